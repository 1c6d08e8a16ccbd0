"""The writers' background thread: order kept, errors reach the caller, nothing left on failure."""

from __future__ import annotations

import numpy as np
import pytest

from egvsr.render.video import PngFolderWriter, WriterThread


def test_writer_thread_keeps_order_and_raises_the_first_error() -> None:
    seen: list[int] = []
    w = WriterThread(depth=2)
    for i in range(5):
        w.submit(seen.append, i)
    w.close()
    assert seen == list(range(5))

    def fail(_):
        raise ValueError("boom")

    w = WriterThread(depth=1)
    w.submit(fail, 0)
    with pytest.raises(ValueError):
        w.submit(seen.append, 9)
        w.close()


def test_png_writer_writes_every_frame_in_order(tmp_path) -> None:
    cv2 = pytest.importorskip("cv2")
    frames = [np.full((5, 7, 3), v, np.uint8) for v in (10, 20, 30)]
    frames[0][0, 0] = (255, 0, 0)  # red stays red (RGB in, BGR on disk)
    with PngFolderWriter(tmp_path / "out") as png:
        for i, f in enumerate(frames):
            png.write(f, 1000 * i)
    for i, f in enumerate(frames):
        back = cv2.imread(str(tmp_path / "out" / f"frame_{i:06d}.png"))[..., ::-1]
        assert np.array_equal(back, f)
    assert (tmp_path / "out" / "timestamps.txt").read_text().split() == ["0.000000", "0.001000", "0.002000"]


def test_png_writer_leaves_nothing_when_the_render_fails(tmp_path) -> None:
    with pytest.raises(RuntimeError):
        with PngFolderWriter(tmp_path / "out") as png:
            png.write(np.zeros((4, 4, 3), np.uint8), 0)
            raise RuntimeError("model failed")
    assert not (tmp_path / "out").exists()
