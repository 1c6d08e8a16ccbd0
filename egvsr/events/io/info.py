"""`describe(path)`: the human summary printed by `egvsr info` (and `summarize`, its data)."""

from __future__ import annotations

import os
from typing import Any

from egvsr.events.io.detect import LAYOUTS, open_events


def summarize(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Facts about a recording: layout, size, events, time span, rate, polarity balance, frames."""
    with open_events(path, sensor_size=sensor_size) as src:
        n = src.num_events
        t0, t1 = src.t_first, src.t_last
        on, off = src.polarity_counts()
        frames, gt = src.frame_times(), src.gt_times()
        info: dict[str, Any] = {
            "path": str(src.path), "layout": src.layout, "width": src.width, "height": src.height,
            "num_events": n, "t_first_us": t0, "t_last_us": t1,
            "duration_s": (t1 - t0) / 1e6 if n else 0.0, "on": on, "off": off,
            "num_frames": 0 if frames is None else len(frames),
            "num_gt": 0 if gt is None else len(gt),
        }
        info["event_rate"] = n / info["duration_s"] if info["duration_s"] > 0 else None
        for key, times in (("frames", frames), ("gt", gt)):
            if times is not None and len(times):
                info[f"{key}_t_first_us"], info[f"{key}_t_last_us"] = int(times[0]), int(times[-1])
                span = (int(times[-1]) - int(times[0])) / 1e6
                info[f"{key}_fps"] = (len(times) - 1) / span if span > 0 else None
                if key == "frames":
                    info["frame_channels"] = int(src.read_frame(0).shape[-1])
    return info


def describe(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None) -> str:
    """Multi-line text summary of a recording (for `egvsr info`)."""
    s = summarize(path, sensor_size)
    n = s["num_events"]
    rows = [
        ("file", s["path"]),
        ("layout", f"{s['layout']}: {LAYOUTS[s['layout']]}"),
        ("sensor", f"{s['width']}x{s['height']} (W x H)"),
        ("events", f"{n:,}"),
    ]
    if n:
        rows += [
            ("time", f"{s['t_first_us']} .. {s['t_last_us']} µs"),
            ("duration", f"{s['duration_s']:.6f} s"),
            ("event rate", "n/a (single timestamp)" if s["event_rate"] is None
             else f"{s['event_rate'] / 1e6:.3f} Mev/s"),
            ("polarity", f"{s['on']:,} ON / {s['off']:,} OFF ({100 * s['on'] / n:.1f}% ON)"),
        ]
    rows.append(("frames", _frames_text(s, "frames")))
    if s["num_gt"]:
        rows.append(("gt frames", _frames_text(s, "gt")))
    width = len("event rate")  # fixed, so outputs line up across files
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _frames_text(s: dict[str, Any], key: str) -> str:
    count = s["num_frames" if key == "frames" else "num_gt"]
    if not count:
        return "none"
    text = f"{count} ({s[f'{key}_t_first_us']} .. {s[f'{key}_t_last_us']} µs"
    if s.get(f"{key}_fps"):
        text += f", {s[f'{key}_fps']:.2f} fps"
    if key == "frames":
        text += ", RGB" if s["frame_channels"] == 3 else ", gray"
    return text + ")"
