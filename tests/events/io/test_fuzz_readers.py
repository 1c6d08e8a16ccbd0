"""Fuzzing every event reader: damaged and malformed files raise only the toolkit's own errors.

Two kinds of attack, each over every layout `open_events` reads (ours, E2VID/event_utils, DSEC,
CED folders, AEDAT4, Prophesee EVT2/EVT3/DAT):

- byte-level: a valid small file truncated, with bytes overwritten or a block of random bytes
  written over it (the HDF5 superblock and object headers included);
- structure-level (HDF5 layouts): files built key by key with wrong dtypes, shapes, lengths,
  attribute values, NaN/Inf or out-of-range numbers, indexes pointing anywhere.

Each file is opened and used the way the CLI uses it (`info`'s summary, every window read, chunked
iteration, frames, `convert`): the only exceptions allowed are `EgvsrError`s with a one-line
message naming the file, a failed `convert` leaves no output and no temporary file, and nothing
runs past the watchdog. Example counts are small and derandomized so the suite stays fast and
reproducible; `EGVSR_FUZZ_EXAMPLES=2000 pytest tests/events/io/test_fuzz_readers.py` hunts for longer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from egvsr.errors import EgvsrError, EventValidationError
from egvsr.events import EventStream
from egvsr.events.frames import Frames
from egvsr.events.io import convert, describe, open_events, write_events
from tests._reliability import check_message, fuzz_settings, watchdog
from tests.events.io.test_layouts import (
    _events, write_aedat4, write_dat, write_dsec, write_e2vid, write_evt2, write_evt3,
)

W, H = 32, 24
N_EVENTS = 400
I64 = np.iinfo(np.int64)


# ---- the valid files the byte-level fuzzing starts from --------------------------------------------
@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """One small valid recording per layout (file, or folder for CED)."""
    import cv2

    d = tmp_path_factory.mktemp("fuzz-originals")
    x, y, t, on = _events(N_EVENTS, W, H, t0=0, span=2_000_000)
    stream = EventStream(x.astype(np.uint16), y.astype(np.uint16), t, np.where(on, 1, -1).astype(np.int8), W, H)
    img = np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3)
    frames = Frames(np.stack([img, img[::-1]]), np.array([0, 1_000_000]))
    gt = Frames(img[None], np.array([500_000]))
    files = {"egvsr": write_events(d / "ours.h5", stream, frames=frames, gt_frames=gt)}
    write_e2vid(d / "e2vid.h5", x, y, t, on, frames=[(img, 10, "color_bgr"), (img, 900_000, "color_bgr")])
    files["e2vid"] = d / "e2vid.h5"
    write_dsec(d / "dsec.h5", x, y, t, on, t_offset=0)
    files["dsec"] = d / "dsec.h5"
    for name, writer, suffix in (("evt2", write_evt2, ".raw"), ("evt3", write_evt3, ".raw"),
                                 ("dat", write_dat, ".dat")):
        writer(d / f"{name}{suffix}", x, y, t, on, W, H)
        files[name] = d / f"{name}{suffix}"
    thirds = [(a, a + N_EVENTS // 2) for a in (0, N_EVENTS // 2)]
    write_aedat4(d / "rec.aedat4", [(t[a:b], x[a:b], y[a:b], on[a:b]) for a, b in thirds], W, H)
    files["aedat4"] = d / "rec.aedat4"
    ced = d / "ced"
    ced.mkdir()
    rows = np.stack([t * 1000.0, x, y, on], axis=1).astype(np.float64)
    for a, b in thirds:
        np.save(ced / f"{int(rows[a, 0])}.npy", rows[a:b])
    cv2.imwrite(str(ced / "1000.png"), img)
    files["ced"] = ced
    return files


def exercise(path: Path, out: Path) -> None:
    """Everything the CLI does with a recording; raises whatever the readers raise."""
    with open_events(path) as src:
        _ = (src.layout, src.width, src.height, src.num_events, src.t_first, src.t_last)
        whole = src.read()
        if len(whole):
            t0, t1 = int(whole.t[0]), int(whole.t[-1])
            src.read(t0 + (t1 - t0) // 3, t1 - (t1 - t0) // 3)
            src.read(t1 + 1, None)
        for _chunk in src.iter_chunks(max_events=97):
            pass
        src.polarity_counts()
        for times, read in ((src.frame_times(), src.read_frame), (src.gt_times(), src.read_gt)):
            if times is not None and len(times):
                read(0)
                read(len(times) - 1)
    describe(path)
    convert(path, out, overwrite=True, progress=False)


def attack(path: Path, out: Path) -> EgvsrError | None:
    """Run `exercise`; only a clear toolkit error may escape, and a failed convert leaves nothing."""
    if out.exists():
        out.unlink()
    try:
        with watchdog():
            exercise(path, out)
    except EgvsrError as exc:
        check_message(exc, path.name)
        assert not out.exists(), "a failed convert left its output"
        assert not list(out.parent.glob(f".{out.name}.*")), "a failed convert left a temporary file"
        return exc
    return None


# ---- byte-level damage ----------------------------------------------------------------------------
@st.composite
def damage(draw) -> tuple:
    """A truncation, scattered byte overwrites, or a block of random bytes (often in the header)."""
    kind = draw(st.sampled_from(["truncate", "bytes", "block"]))
    head = draw(st.booleans())  # aim at the first 2 KiB: superblock, object headers, text header
    if kind == "truncate":
        return kind, head, draw(st.floats(0, 1))
    if kind == "bytes":
        return kind, head, draw(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=24))
    return kind, head, (draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=300)))


def damaged(data: bytes, how: tuple) -> bytes:
    kind, head, arg = how
    span = min(len(data), 2048) if head else len(data)
    pos = (lambda f: min(int(f * span), len(data) - 1))
    buf = bytearray(data)
    if kind == "truncate":
        return bytes(buf[: pos(arg)])
    if kind == "bytes":
        for f, value in arg:
            buf[pos(f)] = value
        return bytes(buf)
    f, block = arg
    a = pos(f)
    buf[a:a + len(block)] = block[: len(buf) - a]
    return bytes(buf)


LAYOUT_NAMES = ["egvsr", "e2vid", "dsec", "evt2", "evt3", "dat", "aedat4", "ced"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(48)
@given(layout=st.sampled_from(LAYOUT_NAMES), how=damage(), which=st.integers(0, 2))
@example(layout="ced", how=("block", True, (0.0332, b"\x00\x00\x00")), which=1)  # found: .npy header -> SyntaxError
@example(layout="aedat4", how=("bytes", True, [(18 / 2048, 255)]), which=0)  # found: aedat's Rust decoder panics
def test_damaged_files_raise_only_toolkit_errors(originals, tmp_path_factory, layout, how, which):
    work = tmp_path_factory.mktemp("damaged")
    src = originals[layout]
    if layout == "ced":  # damage one packet or the frame of a copied folder
        target = work / "ced"
        shutil.copytree(src, target)
        victim = sorted(target.iterdir())[which % 3]
        victim.write_bytes(damaged(victim.read_bytes(), how))
    else:
        target = work / src.name
        target.write_bytes(damaged(src.read_bytes(), how))
    attack(target, work / "converted.h5")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_truncation_point_of_the_header(originals, tmp_path, layout):
    """Cut each file at a spread of points (the empty file included): a toolkit error or fewer events."""
    src = originals[layout]
    path = src if layout != "ced" else sorted(src.glob("*.npy"))[0]
    data = path.read_bytes()
    for cut in sorted({0, 1, 7, 8, 16, 64, 200, 512, 1024, len(data) // 2, len(data) - 1}):
        if cut >= len(data):
            continue
        if layout == "ced":
            target = tmp_path / f"ced{cut}"
            shutil.copytree(src, target)
            (target / path.name).write_bytes(data[:cut])
        else:
            target = tmp_path / f"cut{cut}{src.suffix}"
            target.write_bytes(data[:cut])
        attack(target, tmp_path / "converted.h5")


# ---- structure-level: HDF5 files built key by key --------------------------------------------------
def _values(draw, n: int, kind: str) -> np.ndarray:
    """A column of `n` values of a drawn dtype: valid-looking, extreme, negative, NaN/Inf ..."""
    dtype = draw(st.sampled_from(["u1", "i1", "u2", "i2", "i4", "u4", "i8", "u8", "f4", "f8", "bool", "S3"]))
    if dtype == "S3":
        return np.array([b"abc"] * n, "S3")
    if dtype == "bool":
        return np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        pool = [0.0, 1.0, -1.0, 0.5, 1e-3, 3.0, 1e300 if dt.itemsize == 8 else 1e38, np.nan, np.inf, -np.inf, 2.0**63]
        vals = draw(st.lists(st.sampled_from(pool) | st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
        return np.asarray(vals, np.float64).astype(dt)
    info = np.iinfo(dt)
    small = {"x": W, "y": H, "p": 2, "t": 10_000_000}[kind]
    ints = st.integers(max(info.min, -2), min(info.max, small)) | st.sampled_from([info.min, info.max, 0])
    vals = draw(st.lists(ints, min_size=n, max_size=n))
    if kind == "t" and draw(st.booleans()):
        vals = sorted(vals)
    return np.asarray(vals, dtype=dt)


def _attr_value(draw):
    return draw(st.sampled_from([0, -1, 1, 7, W, H, 70_000, 2**40, -(2**63), 2**64 - 1, 3.5, float("nan"),
                                 "abc", b"egvsr", [1, 2], np.zeros((2, 2)), True]))


def _column(draw, f: h5py.File, key: str, n: int, kind: str) -> None:
    shape = draw(st.sampled_from(["ok"] * 6 + ["missing", "group", "2d", "scalar", "short"]))
    if shape == "missing":
        return
    if shape == "group":
        f.create_group(key)
        return
    data = _values(draw, n, kind)
    if shape == "2d":
        data = np.stack([data, data], axis=1)
    elif shape == "scalar":
        data = data[0] if n else data.dtype.type(0)
    elif shape == "short":
        data = data[: n // 2]
    f.create_dataset(key, data=data)


def _frames(draw, f: h5py.File, group: str) -> None:
    choice = draw(st.sampled_from(["none", "ok", "bad-images", "bad-times", "group-only"]))
    if choice == "none":
        return
    if choice == "group-only":
        f.create_group(group)
        return
    k = draw(st.integers(0, 3))
    odd_shapes = [(k, H, W), (k, H, W, 2), (k, 1, 1, 3), (k,)]
    shape = (k, H, W, 3) if choice != "bad-images" else draw(st.sampled_from(odd_shapes))
    dtype = np.uint8 if choice != "bad-images" else draw(st.sampled_from([np.uint8, np.float32, np.int64]))
    images = np.zeros(shape, dtype)
    if dtype == np.float32 and images.size:
        images.flat[0] = np.nan
    f.create_dataset(f"{group}/images", data=images)
    times = np.arange(k, dtype=np.int64) * 1000
    if choice == "bad-times":
        times = draw(st.sampled_from([times[::-1].copy(), np.zeros(k, np.int64), times.astype(np.float64) + 0.5,
                                      np.arange(k + 1, dtype=np.int64), np.full(k, I64.max)]))
    f.create_dataset(f"{group}/t", data=times)


@st.composite
def malformed_egvsr(draw, path: Path) -> Path:
    n = draw(st.integers(0, 40))
    with h5py.File(path, "w") as f:
        f.attrs["format"] = draw(st.sampled_from(["egvsr", b"egvsr"]))
        for key in ("version", "width", "height", "num_events"):
            mode = draw(st.sampled_from(["ok"] * 6 + ["missing", "odd"]))
            ok = {"version": 1, "width": W, "height": H, "num_events": n}[key]
            if mode == "ok":
                f.attrs[key] = ok
            elif mode == "odd":
                f.attrs[key] = _attr_value(draw)
        for k in "xytp":
            _column(draw, f, f"events/{k}", n, k)
        index = draw(st.sampled_from(["none", "ok", "garbage", "float", "2d"]))
        if index != "none":
            m = draw(st.integers(0, 6))
            data = {"ok": np.linspace(0, n, m).astype(np.uint64),
                    "garbage": np.asarray(draw(st.lists(st.sampled_from([0, 1, 5, n, 2**63, 2**64 - 1]),
                                                        min_size=m, max_size=m)), np.uint64),
                    "float": np.full(m, np.nan),
                    "2d": np.zeros((m, 2), np.uint64)}[index]
            ds = f.create_dataset("events/ms_to_idx", data=data)
            ds.attrs["t0_us"] = draw(st.sampled_from([0, -5, 10**6, I64.min, I64.max]))
        _frames(draw, f, "frames")
        _frames(draw, f, "gt")
    return path


@st.composite
def malformed_e2vid(draw, path: Path) -> Path:
    n = draw(st.integers(0, 40))
    with h5py.File(path, "w") as f:
        for k, kind in (("xs", "x"), ("ys", "y"), ("ts", "t"), ("ps", "p")):
            _column(draw, f, f"events/{k}", n, kind)
        if "events" not in f:
            f.create_group("events")
        if draw(st.booleans()):
            f.attrs["sensor_resolution"] = draw(st.sampled_from([(H, W), (H, W, 3), (0, 0), (-1, W), (2**40, 5),
                                                                 (H,), "abc", (float("nan"), 3.0)]))
        for i in range(draw(st.integers(0, 2))):
            img = np.zeros(draw(st.sampled_from([(H, W), (H, W, 3), (H, W, 4), (2,)])),
                           draw(st.sampled_from([np.uint8, np.float64])))
            ds = f.create_dataset(f"images/image{i:09d}", data=img)
            stamp = draw(st.sampled_from(["missing", 0.1 * i, float("nan"), float("inf"), "abc", 1e300, -1.0,
                                          np.int64(100_000 * i), np.uint64(2**64 - 1), np.int64(-2**63)]))
            if stamp != "missing":
                ds.attrs["timestamp"] = stamp
            if draw(st.booleans()):
                ds.attrs["type"] = draw(st.sampled_from(["greyscale", "color_bgr", b"color_bgr", "??"]))
    return path


@st.composite
def malformed_dsec(draw, path: Path) -> Path:
    n = draw(st.integers(0, 40))
    with h5py.File(path, "w") as f:
        for k in "xytp":
            _column(draw, f, f"events/{k}", n, k)
        if "events" not in f:
            f.create_group("events")
        offset = draw(st.sampled_from(["ok", "missing", "huge", "float", "array", "string"]))
        data = {"ok": np.int64(5), "huge": np.int64(I64.max), "float": np.float64(1.5),
                "array": np.arange(3, dtype=np.int64), "string": np.bytes_(b"zz")}.get(offset)
        if data is not None:
            f.create_dataset("t_offset", data=data)
        m = draw(st.integers(0, 5))
        index = draw(st.sampled_from(["ok", "garbage", "missing"]))
        if index == "ok":
            f.create_dataset("ms_to_idx", data=np.linspace(0, n, m).astype(np.uint64))
        elif index == "garbage":
            f.create_dataset("ms_to_idx", data=np.full(m, 2**64 - 1, np.uint64))
        elif offset == "missing":
            f.create_dataset("ms_to_idx", data=np.zeros(0, np.uint64))  # keep it detectable as DSEC
    return path


MALFORMED = {"egvsr": malformed_egvsr, "e2vid": malformed_e2vid, "dsec": malformed_dsec}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(60)
@given(data=st.data(), layout=st.sampled_from(sorted(MALFORMED)))
def test_malformed_hdf5_layouts_raise_only_toolkit_errors(tmp_path_factory, data, layout):
    work = tmp_path_factory.mktemp("malformed")
    path = data.draw(MALFORMED[layout](work / f"{layout}.h5"))
    attack(path, work / "converted.h5")


# ---- structure-level: CED packets and Prophesee / AEDAT4 payloads ----------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(30)
@given(data=st.data())
def test_malformed_ced_packets_raise_only_toolkit_errors(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("ced") / "seq"
    folder.mkdir()
    for i in range(data.draw(st.integers(1, 3))):
        n = data.draw(st.integers(0, 12))
        shape = data.draw(st.sampled_from([(n, 4), (n, 4), (n, 3), (n,), (n, 4, 1)]))
        dtype = data.draw(st.sampled_from(["f8", "f8", "f4", "i8", "u1", "O", "c8"]))
        cols = [data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)) for pool in (
            [0.0, 1e3, 2e3, 5e9, -1e3, np.nan, np.inf, 1e30],     # t_ns
            [0, 1, 5, W - 1, W, -1, 0.5, np.nan, 1e9],              # x
            [0, 2, H - 1, H, -3, np.nan],                           # y
            [0, 1, 1, 0, -1, 2, 0.5, np.nan])]                      # p
        rows = np.array(cols, np.float64).T.reshape(n, 4) if n else np.zeros((0, 4))
        if data.draw(st.booleans()):
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
        arr = rows.reshape(shape) if np.prod(shape) == rows.size else np.zeros(shape)
        name = folder / f"{1000 * (i + 1)}.npy"
        if dtype == "O":
            np.save(name, np.array([{"a": 1}] * max(n, 1), dtype=object), allow_pickle=True)
        else:
            np.save(name, arr.astype(dtype))
    if data.draw(st.booleans()):
        (folder / "999.png").write_bytes(data.draw(st.binary(max_size=64)))
    attack(folder, folder.parent / "converted.h5")


PROPHESEE_HEADERS = [
    b"% evt 2.0\n% format EVT2;height=24;width=32\n% end\n",
    b"% evt 3.0\n% geometry 32x24\n% end\n",
    b"% Data file containing CD events.\n% Version 2\n% Height 24\n% Width 32\n",
    b"% evt 3.0\n% geometry 0x0\n% end\n",
    b"% evt 2.0\n% format EVT2;height=99999999;width=99999999\n% end\n",
    b"% evt 3.0\n% end\n",
    b"% Data file containing CD events.\n% Height 24\n",
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(40)
@given(header=st.sampled_from(PROPHESEE_HEADERS), payload=st.binary(max_size=600),
       dat_prefix=st.sampled_from([b"", b"\x00\x08", b"\x0c\x02"]))
@example(header=PROPHESEE_HEADERS[2], payload=b"%", dat_prefix=b"")  # found: expelliarmus loops forever
@example(header=PROPHESEE_HEADERS[0], payload=b"%abc", dat_prefix=b"")  # ... on an unterminated '%' line
def test_random_prophesee_payloads_raise_only_toolkit_errors(tmp_path_factory, header, payload, dat_prefix):
    work = tmp_path_factory.mktemp("prophesee")
    body = (dat_prefix if header.startswith(b"% Data") else b"") + payload
    path = work / "rec.raw"
    path.write_bytes(header + body)
    attack(path, work / "converted.h5")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(20)
@given(payload=st.binary(max_size=400))
def test_random_aedat4_payloads_raise_only_toolkit_errors(tmp_path_factory, payload):
    work = tmp_path_factory.mktemp("aedat")
    path = work / "rec.aedat4"
    path.write_bytes(b"#!AER-DAT4.0\r\n" + payload)
    attack(path, work / "converted.h5")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@fuzz_settings(20)
@given(payload=st.binary(min_size=1, max_size=2000))
def test_random_bytes_behind_an_hdf5_signature(tmp_path_factory, payload):
    work = tmp_path_factory.mktemp("sig")
    path = work / "rec.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + payload)
    attack(path, work / "converted.h5")


@pytest.mark.parametrize("layout", [
    "egvsr",
    "dsec",
])
def test_float_millisecond_index_is_refused(tmp_path, layout):
    """A NaN-filled `ms_to_idx` (found by fuzzing): a window read must not reach int(nan)."""
    n = 10
    path = tmp_path / f"{layout}.h5"
    with h5py.File(path, "w") as f:
        if layout == "egvsr":
            f.attrs.update(format="egvsr", version=1, width=8, height=8)
        for k, dt in (("x", "u2"), ("y", "u2"), ("t", "i8" if layout == "egvsr" else "u4"), ("p", "i1")):
            data = np.arange(n) * 1000 if k == "t" else (np.ones(n) if k == "p" else np.zeros(n))
            f.create_dataset(f"events/{k}", data=data.astype(dt))
        f.create_dataset("events/ms_to_idx" if layout == "egvsr" else "ms_to_idx", data=np.full(12, np.nan))
        if layout == "dsec":
            f.create_dataset("t_offset", data=np.int64(0))
    with pytest.raises(EgvsrError) as err:
        with open_events(path) as src:
            src.read(2000, 5000)
    check_message(err.value, path.name, "ms_to_idx")


@pytest.mark.parametrize("image,resolution,needle", [
    (np.zeros(2, np.uint8), None, "has shape (2,), expected an image"),          # found by fuzzing
    (np.zeros((H, W, 4), np.uint8), (H, W), "uint8 (24, 32, 4), expected uint8"),  # found by fuzzing
    (np.zeros((H, W), np.uint8), (0, 0), "'sensor_resolution' is"),
    (np.zeros((H, W), np.uint8), ["tall", "wide"], "'sensor_resolution' is"),
])
def test_e2vid_odd_images_and_sizes_name_the_file(tmp_path, image, resolution, needle):
    x, y, t, on = _events(20, W, H, t0=0, span=10_000)
    path = tmp_path / "odd.h5"
    write_e2vid(path, x, y, t, on, frames=[(image, 5, "color_bgr")], sensor_resolution=resolution)
    exc = attack(path, tmp_path / "converted.h5")
    assert exc is not None
    check_message(exc, "odd.h5", needle)


# ---- NaN / Inf in float layouts are reported with where they are ----------------------------------
def test_nan_timestamp_in_e2vid_names_the_key_and_index(tmp_path):
    x, y, t, on = _events(50, W, H, t0=0, span=100_000)
    path = tmp_path / "nan.h5"
    write_e2vid(path, x, y, t, on, sensor_resolution=(H, W))
    with h5py.File(path, "r+") as f:
        f["events/ts"][17] = np.nan
    with pytest.raises(EventValidationError) as err:
        open_events(path).read()
    check_message(err.value, "nan.h5", "events/ts[17]", "nan", "finite seconds")


def test_nan_time_in_a_ced_packet_names_the_event(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    rows = np.array([[1000.0, 1, 1, 1], [np.inf, 2, 2, 0], [3000.0, 3, 3, 1]])
    np.save(folder / "1000.npy", rows)
    with pytest.raises(EventValidationError) as err:
        open_events(folder, sensor_size=(H, W)).read()
    check_message(err.value, "seq", "column 0 (t_ns) of event 1", "inf", "finite time")
