"""EVT3 decoder: numba kernel against the plain-Python reference, block splitting, time loops."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events.io import evt3, read_events

_KINDS = [0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]


def _kernel_decode(words: np.ndarray, cap: int, block: int):
    """Decode with the kernel in blocks of `block` words and outputs of `cap` events."""
    state = evt3.new_state()
    parts = []
    for a in range(0, len(words), block):
        chunk = words[a:a + block]
        start = 0
        while start < len(chunk):
            out = [np.empty(cap, d) for d in (np.uint16, np.uint16, np.int64, np.int8)]
            n, used = evt3.decode_words(chunk[start:], state, *out)
            assert used > 0
            start += used
            parts.append([o[:n] for o in out])
    return [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4)]


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(0, 0xFFF)), max_size=400),
    cap=st.integers(12, 60),
    block=st.integers(1, 500),
)
def test_kernel_matches_reference(words, cap, block):
    # keep x inside 11 bits after vector increments: bases below 2048 - 12 * 40
    w = np.array([(k << 12) | ((v & 0x800) | (v & 0x3FF) if k in (0x2, 0x3) else v) for k, v in words], np.uint16)
    want = evt3.decode_reference(w)
    got = _kernel_decode(w, cap, block)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g.astype(np.int64), r.astype(np.int64))


def test_time_high_then_smaller_time_low_is_not_shifted():
    # 3800 µs, then TIME_HIGH 1 and TIME_LOW 337 -> 4096 + 337 = 4433 µs (expelliarmus says 8529)
    w = np.array([0x8000, 0x6000 | 3800, 5, 0x2000 | 3, 0x8001, 0x6000 | 337, 6, 0x2000 | 4], np.uint16)
    np.testing.assert_array_equal(evt3.decode_reference(w)[2], [3800, 4433])
    np.testing.assert_array_equal(_kernel_decode(w, 64, 100)[2], [3800, 4433])


def test_vectors_and_time_loop():
    w = np.array([
        0x8FFF, 0x6FFE, 0x0007,          # t = 2^24 - 2, y = 7
        0x3000 | (1 << 11) | 100,        # vector base x = 100, ON
        0x4000 | 0b100000000101,         # x = 100, 102, 111
        0x5000 | 0b10000001,             # x = 112, 119
        0x8000, 0x6003,                  # wrapped: t = 2^24 + 3
        0x2000 | 9,                      # single OFF event at x = 9
    ], np.uint16)
    x, y, t, p = evt3.decode_reference(w)
    np.testing.assert_array_equal(x, [100, 102, 111, 112, 119, 9])
    np.testing.assert_array_equal(y, [7] * 6)
    np.testing.assert_array_equal(t, [2**24 - 2] * 5 + [2**24 + 3])
    np.testing.assert_array_equal(p, [1] * 5 + [-1])
    for g, r in zip(_kernel_decode(w, 12, 3), (x, y, t, p)):
        np.testing.assert_array_equal(g.astype(np.int64), r)


def test_file_decoding_in_small_blocks(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    n = 3000
    t = np.sort(rng.integers(0, 40_000_000, n))  # crosses two 24-bit loops
    x, y, on = rng.integers(0, 1280, n), rng.integers(0, 720, n), rng.integers(0, 2, n)
    words, high = [], -1
    for xi, yi, ti, pi in zip(x, y, t, on):
        if (ti >> 12) != high:
            high = ti >> 12
            words.append(0x8000 | (high & 0xFFF))
        words += [0x6000 | (ti & 0xFFF), int(yi), 0x2000 | (int(pi) << 11) | int(xi)]
    path = tmp_path / "cam.raw"
    path.write_bytes(b"% format EVT3;height=720;width=1280\n% end\n" + np.array(words, "<u2").tobytes())
    original = evt3.decode_file
    monkeypatch.setattr(evt3, "decode_file", lambda p, off: original(p, off, block_words=97))
    s = read_events(path)
    np.testing.assert_array_equal(s.t, t)
    np.testing.assert_array_equal(s.x, x)
    np.testing.assert_array_equal(s.y, y)
    np.testing.assert_array_equal(s.p, on * 2 - 1)
