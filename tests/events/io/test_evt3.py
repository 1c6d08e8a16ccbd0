"""EVT3 decoder: numba kernel against the plain-Python reference, block splitting, time loops."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from egvsr.events.io import evt3, open_events, read_events
from egvsr.events.io.info import summarize
from tests.events.io.test_layouts import write_evt3

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



def test_a_late_time_high_straddling_a_wrap_steps_back_not_a_whole_loop_on(tmp_path):
    # the 24-bit time wraps between A and B; C comes 8 µs late with the TIME_HIGH of before the wrap.
    # The shorter way round the counter (as EVT2 / DAT): C is 8 µs before B, D follows B; read as a rise of
    # almost 2^24 µs, C and every later event (D, E) would be 16.8 s late
    loop = 1 << 24
    w = np.array([
        0x8FFF, 0x6FFE, 0x0001, 0x2000 | 1,   # A at 2^24 - 2
        0x8000, 0x6005, 0x2000 | 2,           # B at 2^24 + 5 (wrapped)
        0x8FFF, 0x6FFD, 0x2000 | 3,           # C at 2^24 - 3: late, from before the wrap
        0x8000, 0x6006, 0x2000 | 4,           # D at 2^24 + 6
        0x8001, 0x6000, 0x2000 | 5,           # E at 2^24 + 4096
    ], np.uint16)
    want = [loop - 2, loop + 5, loop - 3, loop + 6, loop + 4096]
    assert evt3.decode_reference(w)[2].tolist() == want
    assert _kernel_decode(w, 12, 2)[2].tolist() == want
    path = tmp_path / "late.raw"
    path.write_bytes(b"% format EVT3;height=4;width=8\n% end\n" + w.astype("<u2").tobytes())
    facts = summarize(path)  # egvsr info's numbers
    assert (facts["t_min_us"], facts["t_max_us"]) == (loop - 3, loop + 4096)
    assert facts["first_decrease"] == 2 and facts["decrease"] == (loop + 5, loop - 3)


def test_a_rise_of_half_the_loop_before_any_wrap_is_a_rise():
    # no time lies before the counter's first pass: TIME_HIGH 1 -> 0x801 (+8.4 s) is read as it is
    w = np.array([0x0000, 0x8001, 0x6000, 0x2000 | 1, 0x8801, 0x6000, 0x2000 | 2, 0x8000, 0x6000, 0x2000 | 3],
                 np.uint16)  # (row 0 first: x addresses are CD events only after a CD row's y address)
    want = [4096, 0x801000, (1 << 24)]  # then a fall of more than half: a wrap
    assert evt3.decode_reference(w)[2].tolist() == want
    assert _kernel_decode(w, 12, 1)[2].tolist() == want


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, (1 << 24) - 1),  # the first event is in the counter's first pass
    steps=st.lists(st.one_of(st.integers(-9000, 9000), st.integers(-(1 << 22), 1 << 22),
                             st.sampled_from([(1 << 23) - 4097, -((1 << 23) - 4097)])), min_size=1, max_size=40),
)
def test_times_with_jitter_across_wraps_are_read_as_written(tmp_path_factory, start, steps):
    # any times >= 0 whose steps (back or on) are shorter than half the 24-bit loop less one TIME_HIGH step
    # decode to themselves: wraps, and late events straddling them, are told apart the shorter way round
    t = np.maximum(0, start + np.cumsum([0] + steps)).astype(np.int64)
    assume(np.all(np.abs(np.diff(t)) < (1 << 23) - 4096))
    n = len(t)
    x, y, on = np.arange(n) % 8, np.arange(n) % 4, np.arange(n) % 3 > 0
    path = tmp_path_factory.mktemp("evt3") / "jitter.raw"
    write_evt3(path, x, y, t, on, 8, 4)
    with open_events(path) as src:
        header = src._data_offset
    assert [int(v) for part in evt3.decode_file(path, header, block_words=5) for v in part[2]] == t.tolist()
    facts = summarize(path)
    assert (facts["t_min_us"], facts["t_max_us"]) == (int(t.min()), int(t.max()))


def test_vector_events_whose_base_runs_past_16_bits_stay_off_the_sensor(tmp_path):
    # a damaged run of 5462 empty VECT_12 words after one VECT_BASE_X carries the base to 65544; the next
    # vector's events are outside any sensor (held at x = 65535), never wrapped round to x = 8 and 9 on it
    w = np.array([0x8000, 0x6005, 0x0003, 0x3000 | (1 << 11)] + [0x4000] * 5462 + [0x4000 | 0b11, 0x2000 | 5],
                 np.uint16)
    want_x = [0xFFFF, 0xFFFF, 5]
    assert evt3.decode_reference(w)[0].tolist() == want_x
    assert _kernel_decode(w, 12, 1000)[0].astype(int).tolist() == want_x
    path = tmp_path / "runaway.raw"
    path.write_bytes(b"% format EVT3;height=24;width=32\n% end\n" + w.astype("<u2").tobytes())
    facts = summarize(path)  # egvsr info's numbers: two events outside the sensor, none moved onto it
    assert facts["num_events"] == 3 and facts["outside"] == 2
