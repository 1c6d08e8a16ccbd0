"""The writers' background thread: order kept, errors reach the caller, nothing left on failure."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from egvsr.render.video import PngFolderWriter, WriterThread
from tests._video import read_frames


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


class _Dropping:
    """A cv2.VideoWriter that loses every other frame without a word, as FFmpeg's does on a full disk."""

    def __init__(self, writer) -> None:
        self.writer, self.calls = writer, 0

    def write(self, img) -> None:
        self.calls += 1
        if self.calls % 2:
            self.writer.write(img)

    def release(self) -> None:
        self.writer.release()


def _write_video(path, overwrite=True, frames=4, free=None):
    """Write `frames` frames through an Mp4Writer whose OpenCV writer drops every other one; `free` (a dict)
    is what the free-space probe reports: its "after" value once the frames are written."""
    from egvsr.render.video import Mp4Writer

    with Mp4Writer(path, 25.0, (16, 16), overwrite=overwrite) as w:
        w._writer = _Dropping(w._writer)
        for i in range(frames):  # colour frames: the writer opened first is kept (gray would reopen it)
            w.write(np.full((16, 16, 3), (40 * i, 0, 200), np.uint8))
        w._thread.close()  # every frame encoded before the free space changes
        w._thread = None
        if free is not None:
            free["now"] = free["after"]


def test_mp4_writer_refuses_a_video_that_lost_frames_and_keeps_the_old_file(tmp_path) -> None:
    """OpenCV reports no failed write: the finished video is read back, and one that lost frames replaces
    nothing (before: it was renamed over the old file, and the render said `wrote`)."""
    pytest.importorskip("cv2")
    from egvsr.errors import OutputError

    out = tmp_path / "clip.mp4"
    out.write_bytes(b"a good video")
    with pytest.raises(OutputError, match=r"clip.mp4: the video written reads back with 2 of its 4 frames"):
        _write_video(out)
    assert out.read_bytes() == b"a good video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_mp4_writer_says_the_disk_is_full(tmp_path, monkeypatch) -> None:
    """A video cut short with no space left says so, in one line naming the file; so does a disk that
    fills while frames are still coming (the render stops there)."""
    pytest.importorskip("cv2")
    from egvsr.errors import OutputError

    free = {"now": 10**12, "after": 0}
    monkeypatch.setattr("egvsr.render.disk.free_bytes", lambda folder: free["now"])
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"a good video")
    with pytest.raises(OutputError, match=r"clip.mp4: no space left on the disk holding .* while writing the video, "
                                          r"0 bytes free; nothing was written"):
        _write_video(out, free=free)
    assert out.read_bytes() == b"a good video"
    free["now"] = 0  # full from the first frame on
    with pytest.raises(OutputError, match="clip.mp4: no space left on the disk"):
        _write_video(out, frames=6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_mp4_writer_accepts_a_complete_video(tmp_path) -> None:
    cv2 = pytest.importorskip("cv2")
    from egvsr.render.video import Mp4Writer

    with Mp4Writer(tmp_path / "ok.mp4", 25.0, (15, 17)) as w:
        for i in range(3):
            w.write(np.full((15, 17, 3), 60 * i, np.uint8))
    cap = cv2.VideoCapture(str(tmp_path / "ok.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


def _read_back(path) -> list[np.ndarray]:
    return [bgr[..., ::-1].astype(int) for bgr in read_frames(path)]


def _spread(img: np.ndarray) -> int:
    """The largest difference between two channels of a pixel."""
    return int((img.max(axis=2) - img.min(axis=2)).max())


def test_mp4_of_gray_frames_reads_back_gray_and_colour_stays_colour(tmp_path) -> None:
    """A gray recording's MP4 came back with channels up to 3/255 apart (always a colour encoder); PNGs
    were exactly gray."""
    pytest.importorskip("cv2")
    from egvsr.render.video import Mp4Writer, side_by_side

    rng = np.random.default_rng(0)
    gray = [np.repeat(rng.integers(0, 256, (15, 17, 1), np.uint8), 3, axis=2) for _ in range(3)]
    with Mp4Writer(tmp_path / "gray.mp4", 25.0, (15, 17)) as w:
        for f in gray:
            w.write(f)
    assert w.gray
    back = _read_back(tmp_path / "gray.mp4")
    assert len(back) == 3 and all(_spread(b) == 0 for b in back)
    panels = side_by_side([("bicubic", gray[0]), ("ours", gray[1])])  # labels and gaps are gray too
    with Mp4Writer(tmp_path / "sbs.mp4", 25.0, panels.shape[:2]) as w:
        w.write(panels)
    assert w.gray and _spread(_read_back(tmp_path / "sbs.mp4")[0]) == 0
    color = rng.integers(0, 256, (15, 17, 3), np.uint8)
    with Mp4Writer(tmp_path / "color.mp4", 25.0, (15, 17)) as w:
        w.write(color)
    assert not w.gray and _spread(_read_back(tmp_path / "color.mp4")[0]) > 100


def test_mp4_turning_to_colour_after_gray_frames_keeps_them_all(tmp_path) -> None:
    pytest.importorskip("cv2")
    from egvsr.render.video import Mp4Writer

    frames = [np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)] + [np.full((16, 16, 3), (200, 0, 0), np.uint8)]
    with Mp4Writer(tmp_path / "mixed.mp4", 25.0, (16, 16)) as w:
        for f in frames:
            w.write(f)
    assert not w.gray and sorted(p.name for p in tmp_path.iterdir()) == ["mixed.mp4"]
    back = _read_back(tmp_path / "mixed.mp4")
    assert len(back) == 4
    for b, f in zip(back, frames):
        assert np.abs(b - f).max() <= 12  # the gray ones encoded twice: a little further off
    assert back[3][..., 0].min() > 150 and back[3][..., 1:].max() < 50


def test_png_writer_says_the_disk_is_full(tmp_path, monkeypatch) -> None:
    """A frame OpenCV could not write: `no space left` when the disk holds less than the frame, else
    OpenCV's failure; an OutputError either way, the old folder kept."""
    pytest.importorskip("cv2")
    from egvsr.errors import OutputError

    monkeypatch.setattr("egvsr.render.video.write_image", lambda *a, **k: False)
    monkeypatch.setattr("egvsr.render.disk.free_bytes", lambda folder: 100)
    with pytest.raises(OutputError, match=r"out: no space left on the disk holding .* while writing "
                                          r"frame_000000.png, 100 bytes free"):
        with PngFolderWriter(tmp_path / "out") as png:
            png.write(np.zeros((40, 40, 3), np.uint8), 0)
    monkeypatch.setattr("egvsr.render.disk.free_bytes", lambda folder: 10**12)
    with pytest.raises(OutputError, match="out: OpenCV could not write frame_000000.png"):
        with PngFolderWriter(tmp_path / "out") as png:
            png.write(np.zeros((40, 40, 3), np.uint8), 0)
    assert not (tmp_path / "out").exists()


def test_least_disk_bytes_are_lower_bounds() -> None:
    """What the free-space check counts: one 4 KB block per PNG file (or deflate's best ratio), one bit
    per macroblock per MP4 frame."""
    from egvsr.render.disk import least_mp4_bytes, least_png_bytes

    assert least_png_bytes(10, 9, 12) == 10 * 4096
    assert least_png_bytes(1, 2000, 3000) == -(-2000 * 9001 // 1032)
    assert least_mp4_bytes(2, 360, 480) == 2 * (-(-23 * 30 // 8) + 4)


def test_png_frame_names_sort_in_file_order_beyond_a_million_frames(tmp_path) -> None:
    """The names take as many digits as the last frame's number needs (at least 6), all of one width, so that
    they sort by name (`ls`, a glob) in file order: with six digits, frame 1,000,000 would sort before
    frame_100001 in a render of more than a million frames (up to 10 million are allowed)."""
    from egvsr.render.video import frame_digits

    for frames in (1, 10, 1_000_000, 1_000_001, 10_000_000, 10_000_001):
        width = frame_digits(frames)
        names = [f"frame_{i:0{width}d}.png" for i in {0, 1, 99_999, 100_000, 100_001, frames // 2, frames - 1}]
        assert sorted(names) == sorted(names, key=lambda n: int(n[6:-4]))
        assert len({len(n) for n in names}) == 1 and width == max(6, len(str(frames - 1)))
    img = np.zeros((2, 3, 3), np.uint8)
    with PngFolderWriter(tmp_path / "many", frames=1_000_001) as png:
        png.write(img, 0)
        png.write(img, 1)
    assert sorted(p.name for p in (tmp_path / "many").glob("frame_*")) == ["frame_0000000.png", "frame_0000001.png"]
    with PngFolderWriter(tmp_path / "few", frames=3) as png:
        png.write(img, 0)
    assert [p.name for p in (tmp_path / "few").glob("frame_*")] == ["frame_000000.png"]



@pytest.mark.parametrize("code, why", [(errno.EDQUOT, "the disk quota is exceeded"),
                                       (errno.EFBIG, r"the file size limit is reached \(ulimit -f\)"),
                                       (errno.EIO, "an input/output error on the device")])
def test_png_writer_says_why_a_frame_write_failed(tmp_path, monkeypatch, code, why) -> None:
    """A frame whose file write fails while the disk has room (a quota, a file size limit, a device error)
    is said as that failure, not as OpenCV's: the encoder did its part. The old folder is kept."""
    pytest.importorskip("cv2")
    from egvsr.errors import OutputError

    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(".png"):
            raise OSError(code, os.strerror(code))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("egvsr.cvfile.open", failing_open, raising=False)
    monkeypatch.setattr("egvsr.render.disk.free_bytes", lambda folder: 10**12)
    with pytest.raises(OutputError, match=rf"out: cannot write the output \({why}\)"):
        with PngFolderWriter(tmp_path / "out") as png:
            png.write(np.zeros((40, 40, 3), np.uint8), 0)
    assert list(tmp_path.iterdir()) == []


def test_mp4_writer_says_a_file_size_limit_is_reached(tmp_path) -> None:
    """FFmpeg reports no failed write: a video cut short by `ulimit -f` (the disk has room) is said as the
    file size limit, not as the encoder's failure; nothing is left."""
    pytest.importorskip("cv2")
    resource = pytest.importorskip("resource")
    import signal

    from egvsr.errors import OutputError
    from egvsr.render.video import Mp4Writer

    frames = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)  # noise: no compression
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8000, hard))
    try:
        with pytest.raises(OutputError, match=r"out.mp4: cannot write the output \(the file size limit is reached "
                                              r"\(ulimit -f\)\)"):
            with Mp4Writer(tmp_path / "out.mp4", 25.0, (64, 64)) as w:
                for f in frames:
                    w.write(f)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert list(tmp_path.iterdir()) == []
