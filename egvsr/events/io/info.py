"""`describe(path)`: the human summary printed by `egvsr info` (and `summarize`, its data).

`info` reads every event anyway (polarity balance), so it also checks the two invariants the readers
rely on and reports them instead of trusting the file: timestamps sorted (`sorted: no (first decrease
at index N)`) and coordinates inside the sensor (`coordinates: K outside WxH`); it also reports frames
the other commands refuse (`frames  unusable: <why>`: another size than the sensor, an AEDAT4 frame
stream that cannot be read whole; `gt frames  unusable: <why>` likewise for ground-truth frames).
A file its reader can only read in part (`EventSource.damage()`: a Prophesee file that ends inside a
word) is reported too (`damage  ...`). `check_report` turns any such problem into an error, so
`egvsr info` exits non-zero on such a file.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from egvsr.errors import EventValidationError, FormatError
from egvsr.events.checks import first_decrease
from egvsr.events.io.detect import open_events
from egvsr.events.io.layouts import LAYOUTS
from egvsr.events.io.source import EventSource
from egvsr.fsutil import check_flag, counted

SCAN_EVENTS = 1 << 22  # events per chunk of the invariant scan


def _raw_chunks(src):
    """The events as stored, unchecked, in file order: (x, y, t) per chunk."""
    if hasattr(src, "_decode") and getattr(src, "_cache", None) is None:  # streamed decoders: one pass
        for x, y, t, _ in src._decode():
            yield x, y, t
        return
    for a in range(0, src.num_events, SCAN_EVENTS):
        x, y, t, _ = src._read_raw(a, min(a + SCAN_EVENTS, src.num_events))
        yield x, y, t


def scan_invariants(src: EventSource) -> dict[str, Any]:
    """{"first_decrease": index or None, "decrease": (before, after) µs at it or None, "outside": count,
    "t_min", "t_max": earliest and latest time (None without events)} over every event of an open source."""
    first, drop, outside, pos, last = None, None, 0, 0, None
    t_min = t_max = None
    w, h = int(src.width), int(src.height)
    for x, y, t in _raw_chunks(src):
        n = len(t)
        if n:
            t = np.asarray(t)
            if first is None:
                if last is not None and int(t[0]) < last:
                    first, drop = pos, (last, int(t[0]))
                else:
                    bad = first_decrease(np.ascontiguousarray(t))
                    if bad >= 0:
                        first, drop = pos + bad, (int(t[bad - 1]), int(t[bad]))
            last = int(t[-1])
            lo, hi = int(t.min()), int(t.max())
            t_min, t_max = (lo, hi) if t_min is None else (min(t_min, lo), max(t_max, hi))
            xi, yi = np.asarray(x).astype(np.int64, copy=False), np.asarray(y).astype(np.int64, copy=False)
            outside += int(np.count_nonzero((xi < 0) | (xi >= w) | (yi < 0) | (yi >= h)))
        pos += n
    return {"first_decrease": first, "decrease": drop, "outside": outside, "t_min": t_min, "t_max": t_max}


def summarize(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Facts about a recording: layout, size, events, time span, rate, polarity balance, frames.

    `t_first_us` / `t_last_us` are the first and last events' times, `t_min_us` / `t_max_us` the span
    (the same in a sorted file), from which `duration_s` and `event_rate` are taken."""
    with open_events(path, sensor_size=sensor_size) as src:
        n = src.num_events
        t0, t1 = src.t_first, src.t_last
        on, off = src.polarity_counts()
        frames, frames_problem = _frames_or_problem(src, "frames")
        gt, gt_problem = _frames_or_problem(src, "gt")
        scan = scan_invariants(src)
        info: dict[str, Any] = {
            "path": str(src.path), "layout": src.layout, "width": src.width, "height": src.height,
            "num_events": n, "t_first_us": t0, "t_last_us": t1, "t_min_us": scan.pop("t_min"),
            "t_max_us": scan.pop("t_max"), "on": on, "off": off,
            "num_frames": 0 if frames is None else len(frames),
            "num_gt": 0 if gt is None else len(gt), "frames_problem": frames_problem, "gt_problem": gt_problem,
            "damage": src.damage(),
        }
        info["duration_s"] = (info["t_max_us"] - info["t_min_us"]) / 1e6 if n else 0.0
        info["event_rate"] = n / info["duration_s"] if info["duration_s"] > 0 else None
        info.update(scan)
        drop = info["decrease"]
        info["unsorted_hint"] = None if drop is None else src.unsorted_hint(*drop)
        for key, times in (("frames", frames), ("gt", gt)):
            if times is not None and len(times):
                info[f"{key}_t_first_us"], info[f"{key}_t_last_us"] = int(times[0]), int(times[-1])
                span = (int(times[-1]) - int(times[0])) / 1e6
                info[f"{key}_fps"] = (len(times) - 1) / span if span > 0 else None
                if key == "frames":
                    info["frame_channels"] = int(src.frame_shape()[-1])  # declared, not decoded
    return info


def _frames_or_problem(src, which: str) -> tuple[Any, str | None]:
    """(times, None) of the frames (`which` "frames") or ground-truth frames ("gt"), or (None, why) when they
    cannot be used while the events can: an AEDAT4 frame stream the decoder cannot give whole, a malformed
    frame group, or frames of another size than the sensor, as every other command refuses them (sizes as
    declared: nothing is decoded). `info` still describes the events."""
    try:
        times = src.frame_times() if which == "frames" else src.gt_times()
        src.check_frame_sizes((which,))
        return times, None
    except FormatError as exc:
        text = str(exc)
        prefix = f"{src.path}: "
        return None, text[len(prefix):] if text.startswith(prefix) else text


def describe(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None,
             with_problems: bool = False) -> str | tuple[str, list[str]]:
    """Multi-line text summary of a recording (for `egvsr info`); with `with_problems`, also the list
    of invariant violations found (for `check_report`)."""
    with_problems = check_flag(with_problems, "with_problems")
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
            ("time", f"{s['t_min_us']} .. {s['t_max_us']} µs"),
            ("duration", f"{s['duration_s']:.6f} s"),
            ("event rate", _rate_text(s["event_rate"])),
            ("polarity", f"{s['on']:,} ON / {s['off']:,} OFF ({100 * s['on'] / n:.1f}% ON)"),
        ]
    size = f"{s['width']}x{s['height']}"
    problems = [] if s["damage"] is None else [s["damage"]]
    rows += [("damage", text) for text in problems]
    if s["first_decrease"] is not None:
        before, after = s["decrease"]
        problems.append(f"timestamps decrease at index {s['first_decrease']} ({before} -> {after} µs; events must "
                        "be sorted by time; " + (s["unsorted_hint"] or "`egvsr convert --sort` writes a sorted copy")
                        + ")")
    if s["outside"]:
        hint = ("a wrong sensor size? pass --sensor-size HxW" if sensor_size is None else
                f"the sensor size given, --sensor-size {s['height']}x{s['width']} (HxW), is too small for them: "
                "give the recording's size, or leave the option out to take the file's")
        problems.append(f"{counted(s['outside'], 'event')} {'has' if s['outside'] == 1 else 'have'} coordinates outside "
                        f"the {size} sensor ({hint})")
    rows += [
        ("sorted", "yes" if s["first_decrease"] is None else f"no (first decrease at index {s['first_decrease']})"),
        ("coordinates", f"all inside {size}" if not s["outside"] else f"{s['outside']:,} outside {size}"),
    ]
    if s["frames_problem"]:
        problems.append(f"frames unusable: {s['frames_problem']}")
    rows.append(("frames", f"unusable: {s['frames_problem']}" if s["frames_problem"] else _frames_text(s, "frames")))
    if s["gt_problem"]:
        problems.append(f"ground-truth frames unusable: {s['gt_problem']}")
        rows.append(("gt frames", f"unusable: {s['gt_problem']}"))
    elif s["num_gt"]:
        rows.append(("gt frames", _frames_text(s, "gt")))
    width = len("coordinates")  # fixed, so outputs line up across files
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    return (text, problems) if with_problems else text


def check_report(path: str | os.PathLike, problems: list[str]) -> None:
    """Raise one `EventValidationError` naming the file and every problem `describe` found."""
    if problems:
        raise EventValidationError(f"{path}: " + "; ".join(problems))


def _rate_text(rate: float | None) -> str:
    """Events per second in Mev/s (3 decimals); a rate that would show as 0.000 Mev/s in ev/s instead."""
    if rate is None:
        return "n/a (single timestamp)"
    return f"{rate / 1e6:.3f} Mev/s" if rate >= 500 else f"{rate:.3g} ev/s"


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
