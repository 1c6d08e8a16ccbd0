"""Render inputs other than one recording: events plus a frame folder, frames alone, real frames."""

from __future__ import annotations

import math
import shlex

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from egvsr.cli import main
from tests._model_helpers import save_untrained_with_head


@pytest.fixture(scope="module")
def split_clip(tmp_path_factory):
    """A sample recording, and the same content as a PNG folder (timestamps.txt) + an events-only file."""
    from egvsr.events.io import open_events, write_events
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("render-input")
    rec = make_sample(d / "clip.h5", seed=2, seconds=0.08, size=(20, 28), fps=25.0, progress=False)
    frames = d / "frames"
    frames.mkdir()
    with open_events(rec) as src:
        ft = src.frame_times()
        for i in range(len(ft)):
            cv2.imwrite(str(frames / f"frame_{i:04d}.png"), src.read_frame(i)[..., ::-1])
        stream = src.read()
    (frames / "timestamps.txt").write_text("".join(f"{t / 1e6:.6f}\n" for t in ft))
    events = write_events(d / "events.h5", stream)
    return rec, frames, events, save_untrained_with_head("egvsr-tiny", d / "tiny.pt")


def _pngs(folder):
    return [cv2.imread(str(f)) for f in sorted(folder.glob("frame_*.png"))]


def _same_renders(rec, ck, frames, events, tmp_path, capsys):
    """Render `rec` and the frame folder `frames` with `events` alike; the PNGs are equal. -> the two folders."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["render", str(rec), str(ck), "--scale", "3", "--fps-factor", "2", "--png", str(a),
                 "--no-progress"]) == 0
    assert main(["render", str(frames), str(ck), "--events", str(events), "--scale", "3", "--fps-factor", "2",
                 "--png", str(b), "--no-progress"]) == 0, capsys.readouterr().err
    pa, pb = _pngs(a), _pngs(b)
    assert len(pa) == len(pb) == 5
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)
    return a, b


def test_events_plus_frame_folder_equals_the_recording(split_clip, tmp_path, capsys):
    rec, frames, events, ck = split_clip
    _same_renders(rec, ck, frames, events, tmp_path, capsys)


def test_frame_folder_events_of_another_size(split_clip, tmp_path, capsys):
    from egvsr.events import EventStream
    from egvsr.events.io import write_events

    _, frames, _, ck = split_clip
    other = write_events(tmp_path / "big.h5", EventStream.empty(64, 48))
    rc = main(["render", str(frames), str(ck), "--events", str(other), "--scale", "2", "--png",
               str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "64x48" in err and "28x20" in err and "share the sensor size" in err


def test_real_frames_alone_with_a_frames_only_model(shared_data, tmp_path, capsys):
    """slider_depth (real DAVIS240C frames, images.txt timestamps), bicubic model, ROI at x6.5."""
    from egvsr.render.model import save_untrained

    ck = save_untrained("bicubic", tmp_path / "bicubic.pt")
    clip = shared_data / "slider_depth"
    out = tmp_path / "roi"
    x, y, w, h = 100, 60, 24, 16
    rc = main(["render", str(clip), str(ck), "--scale", "6.5", "--roi", str(x), str(y), str(w), str(h),
               "--last-frame", "2", "--png", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    pngs = _pngs(out)
    assert len(pngs) == 3 and pngs[0].shape == (math.floor(6.5 * h), math.floor(6.5 * w), 3)
    # frame 1 at x6.5 by plain bicubic interpolation of the whole frame, then the ROI's part of it
    img = cv2.imread(str(clip / "images" / "frame_00000001.png"), cv2.IMREAD_COLOR)
    t = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    full = F.interpolate(t, size=(math.floor(6.5 * 180), math.floor(6.5 * 240)), mode="bicubic",
                         align_corners=False).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    ref = (full[int(6.5 * y):int(6.5 * y) + 104, int(6.5 * x):int(6.5 * x) + 156] * 255 + 0.5).astype(np.uint8)
    assert np.abs(pngs[1].astype(int) - ref.astype(int)).max() <= 1


def test_frame_folder_with_events_on_another_clock_warns_once_and_renders(split_clip, tmp_path, capsys):
    from egvsr.events import EventStream
    from egvsr.events.io import read_events, write_events

    _, frames, events, ck = split_clip
    s = read_events(str(events))
    unix = write_events(tmp_path / "unix.h5", EventStream(s.x, s.y, s.t + 1_700_000_000_000_000, s.p, s.width,
                                                          s.height))
    rc = main(["render", str(frames), str(ck), "--events", str(unix), "--scale", "2", "--png", str(tmp_path / "o"),
               "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    ft = [round(float(v) * 1e6) for v in (frames / "timestamps.txt").read_text().split()]
    assert rc == 0 and len(_pngs(tmp_path / "o")) == len(ft) == 3
    assert len(err) == 1 and err[0].startswith(f"egvsr: warning: {unix}: no event falls within the frames' span "
                                               f"(events 1700000000"), err
    assert f"frames in {frames} {ft[0]}..{ft[-1]} µs), so the event tensors will be zero; are the clocks" in err[0]
    assert main(["render", str(frames), str(ck), "--events", str(events), "--scale", "2", "--png",
                 str(tmp_path / "p"), "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err  # the same events on the frames' clock


def test_ced_folder_of_frames_alone_is_read_as_ced_like_info_and_eval(split_clip, tmp_path, capsys):
    """<ns>.png frames without packets or a timestamps file: times from the names, as every other command."""
    rec, frames, _, ck = split_clip
    ced = tmp_path / "ced"
    ced.mkdir()
    names = [1_500_000_000_000_000_000 + i * 40_000_000 for i in range(3)]
    for ns, png in zip(names, sorted(frames.glob("frame_*.png"))):
        (ced / f"{ns}.png").write_bytes(png.read_bytes())
    rc = main(["render", str(ced), str(ck), "--scale", "2", "--png", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and err == [f"egvsr: warning: {ced}: holds no events, so the event tensors will be zero and the "
                               "model renders what it renders from the frames alone"], err
    seconds = [float(v) for v in (tmp_path / "o" / "timestamps.txt").read_text().split()]
    assert seconds == pytest.approx([ns / 1e9 for ns in names], abs=1e-6)
    numbered = tmp_path / "numbered"  # 000000.png, ...: frames to be timed, not nanosecond names
    numbered.mkdir()
    for i, png in enumerate(sorted(frames.glob("frame_*.png"))):
        (numbered / f"{i:06d}.png").write_bytes(png.read_bytes())
    rc = main(["render", str(numbered), str(ck), "--scale", "2", "--png", str(tmp_path / "n"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"egvsr: error: {numbered}: the frames have no timestamps (no images.txt, "
                               "timestamps.txt or fps.txt); pass --fps to give their frame rate"]


def test_frame_folder_with_events_cut_short_warns_once_and_renders(split_clip, tmp_path, capsys):
    """Events beside the frames in a Prophesee file that ends inside a word: the whole words are read, never in
    silence (docs/io.md), as `info`, `convert` and `voxelize` say."""
    from egvsr.events.io import read_events
    from tests.events.io.test_layouts import write_evt2

    _, frames, events, ck = split_clip
    s = read_events(str(events))
    raw = tmp_path / "cut.raw"
    write_evt2(raw, s.x, s.y, s.t, s.p > 0, s.width, s.height)
    raw.write_bytes(raw.read_bytes()[:-2])  # half of the last event's word
    rc = main(["render", str(frames), str(ck), "--events", str(raw), "--scale", "2", "--png", str(tmp_path / "o"),
               "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 0 and len(_pngs(tmp_path / "o")) == 3
    assert len(err) == 1 and err[0].startswith(f"egvsr: warning: {raw}: the file ends 2 bytes into a 32-bit EVT2 "
                                               "word"), err


def test_frame_folder_of_float_or_16_bit_gray_frames_renders_as_its_8_bit_twin(split_clip, tmp_path, capsys):
    """A frame folder is decoded by the frame-folder rule of docs/simulator.md (16-bit scaled to 8 bits, float
    frames in [0, 1] times 255), as `simulate` reads it: float TIFFs were decoded by OpenCV's 8-bit colour path,
    which cannot take 32-bit samples, so render failed on the first frame (with libtiff's warning beside it)."""
    from egvsr.render.inputs import open_input

    _, frames, events, ck = split_clip
    gray8 = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY) for f in sorted(frames.glob("frame_*.png"))]
    stamps = (frames / "timestamps.txt").read_text()
    folders = {}
    for kind, ext, encode in (("gray8", ".png", lambda a: a), ("float", ".tiff", lambda a: a.astype(np.float32) / 255),
                              ("gray16", ".png", lambda a: a.astype(np.uint16) * 257)):
        d = folders[kind] = tmp_path / kind
        d.mkdir()
        for i, img in enumerate(gray8):
            assert cv2.imwrite(str(d / f"frame_{i:04d}{ext}"), encode(img))
        (d / "timestamps.txt").write_text(stamps)
    for kind, d in folders.items():
        rec = open_input(d, events)
        for i in (len(gray8) - 1, 0):  # the last first: the scale of float frames does not depend on the order
            img = rec.read_frame(i)
            assert img.shape == gray8[i].shape + (3,) and img.dtype == np.uint8, kind
            np.testing.assert_array_equal(img, np.repeat(gray8[i][..., None], 3, axis=2), err_msg=kind)
    outs = {}
    for kind in ("gray8", "float"):
        outs[kind] = tmp_path / f"out-{kind}"
        rc = main(["render", str(folders[kind]), str(ck), "--events", str(events), "--scale", "2",
                   "--png", str(outs[kind]), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 0 and "WARN" not in err, err
    for a, b in zip(_pngs(outs["gray8"]), _pngs(outs["float"]), strict=True):
        np.testing.assert_array_equal(a, b)
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()  # gray in, gray out


@pytest.mark.parametrize("events, name", [(False, "clip.MP4"), (True, "clip.MP4"), (False, "my clip.mp4")])
def test_a_video_file_as_input_says_how_to_render_it(split_clip, tmp_path, capsys, events, name):
    """A video file was refused as "not a recognised event recording" (with --events: "must be a folder of
    frames"), the way to render it unsaid; now one line names it and says how: simulate a recording of it, or
    extract its frames."""
    _, frames, events_file, ck = split_clip
    video = tmp_path / name
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (28, 20))
    for f in _pngs(frames):
        writer.write(f)
    writer.release()
    more = ["--events", str(events_file)] if events else []
    rc = main(["render", str(video), str(ck), *more, "--scale", "2", "--png", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and err == [err[0]]
    assert err[0].startswith(f"egvsr: error: {video}: a video file is not a render input")
    # the command as the shell takes it (quoted where the path holds a space), as import-checkpoint's advice
    assert f"egvsr simulate {shlex.quote(str(video))} OUT.h5" in err[0] and "extract its frames" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("shift", [2**53 - 123_457, 2**62 + 1])
def test_frame_folder_and_events_on_a_far_clock_render_as_on_clock_zero(split_clip, tmp_path, capsys, shift):
    """A frame folder's times are decimals read exactly: float64 seconds hold whole µs only up to about
    2**52 µs (9007199254.278052 s read as ...051 µs), and beyond 2**53 µs the folder was refused, so the
    timestamps.txt that render writes on such a clock (a nanosecond clock read as µs) could not be read back."""
    from egvsr.errors import FormatError
    from egvsr.events import EventStream
    from egvsr.events.io import read_events, write_events
    from egvsr.events.simulate.video_input import open_video

    rec, frames, events, ck = split_clip
    s = read_events(str(events))
    far = tmp_path / "far"
    far.mkdir()
    ft = [round(float(v) * 1e6) for v in (frames / "timestamps.txt").read_text().split()]
    for f in frames.glob("frame_*.png"):
        (far / f.name).write_bytes(f.read_bytes())
    (far / "timestamps.txt").write_text("".join(f"{(t + shift) // 10**6}.{(t + shift) % 10**6:06d}\n" for t in ft))
    moved = write_events(tmp_path / "far.h5", EventStream(s.x, s.y, s.t + shift, s.p, s.width, s.height))
    a, b = _same_renders(rec, ck, far, moved, tmp_path, capsys)
    us = [[int(v.replace(".", "")) for v in (d / "timestamps.txt").read_text().split()] for d in (a, b)]
    assert us[1] == [t + shift for t in us[0]]
    assert open_video(b, max_time_us=2**63 - 1).timestamps_us.tolist() == us[1]  # render's output reads back
    if shift > 2**53:  # the simulator's time is exact within 2**53 µs: `egvsr simulate` refuses the folder up front
        with pytest.raises(FormatError, match=r"timestamps.txt, line 1: time 4611686018427.387905 s is beyond ±2\*\*53"):
            open_video(far)
