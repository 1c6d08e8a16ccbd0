"""Prophesee RAW read against decoders written here from the format specs (docs.prophesee.ai "EVT 3.0 / EVT 2.0
Format", OpenEB's decoders): a TIME_HIGH that changes the time high starts it at TIME_LOW 0; an EVT 2.1 file
(64-bit words) is refused by name, never decoded as EVT 2.0's 32-bit words."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.cli import main
from egvsr.errors import FormatError
from egvsr.events.io import open_events, prophesee, read_events, streamed

W, H = 2048, 2048
EVT3_HEADER = f"% evt 3.0\n% format EVT3;height={H};width={W}\n% end\n".encode()


def _evt3_spec(words) -> list[tuple[int, int, int, int]]:
    """(x, y, t, p) from EVT3 words, per the spec and OpenEB: times unwrapped the shorter way round the 24-bit
    counter at each TIME_HIGH (docs/io.md), TIME_LOW zeroed by a TIME_HIGH of another value, x addresses events
    only after a CD row's y address (type 0x0; OpenEB's `is_cd`, cleared by a type 0x1 y address)."""
    out = []
    y = base = pol = high = low = loops = 0
    seen = cd = False
    for w in words:
        kind, v = w >> 12, w & 0xFFF
        t = (loops << 24) + (high << 12) + low
        if kind == 0b0000:  # EVT_ADDR_Y (bit 11: system type)
            y, cd = v & 0x7FF, True
        elif kind == 0b0001:  # the y address of exposure-measurement rows
            cd = False
        elif kind == 0b0010 and cd:  # EVT_ADDR_X: one event, bit 11 the polarity
            out.append((v & 0x7FF, y, t, 1 if v >> 11 else -1))
        elif kind == 0b0011:  # VECT_BASE_X
            base, pol = v & 0x7FF, v >> 11
        elif kind in (0b0100, 0b0101):  # VECT_12 / VECT_8: bit i is pixel base + i
            n = 12 if kind == 0b0100 else 8
            out += [(base + i, y, t, 1 if pol else -1) for i in range(n) if cd and v >> i & 1]
            base += n
        elif kind == 0b0110:
            low = v
        elif kind == 0b1000:
            if seen and high - v > 2048:
                loops += 1
            elif seen and v - high >= 2048 and loops > 0:
                loops -= 1
            if v != high:
                low = 0
            high, seen = v, True
    return out


def _read(path, cached: bool, monkeypatch) -> list[tuple[int, int, int, int]]:
    if not cached:
        monkeypatch.setattr(streamed, "CACHE_EVENTS", 0)
    with open_events(path) as src:
        parts = list(src.iter_chunks(max_events=3))
    return [(int(a), int(b), int(c), int(d)) for s in parts for a, b, c, d in zip(s.x, s.y, s.t, s.p)]


@pytest.mark.parametrize("cached", [True, False])
def test_an_event_after_a_new_time_high_and_before_its_time_low_is_at_the_time_highs_start(
        tmp_path, cached, monkeypatch):
    # A at 5*4096 + 4000; TIME_HIGH 6 without a TIME_LOW: B at 6*4096 (not 6*4096 + 4000, which would be
    # 3990 µs after C and make the file read as unsorted); C at 6*4096 + 10; a repeated TIME_HIGH keeps it
    words = [0x8005, 0x6000 | 4000, 0x0001, 0x2002, 0x8006, 0x2003, 0x6000 | 10, 0x2004, 0x8006, 0x2005]
    path = tmp_path / "th.raw"
    path.write_bytes(EVT3_HEADER + np.array(words, "<u2").tobytes())
    want = [(2, 1, 5 * 4096 + 4000, -1), (3, 1, 6 * 4096, -1), (4, 1, 6 * 4096 + 10, -1), (5, 1, 6 * 4096 + 10, -1)]
    assert _evt3_spec(words) == want
    assert _read(path, cached, monkeypatch) == want


@pytest.mark.parametrize("cached", [True, False])
def test_x_addresses_before_any_cd_row_or_after_an_exposure_measurement_row_are_no_cd_events(
        tmp_path, cached, monkeypatch):
    # before the first EVT_ADDR_Y no row is known: no event is made up at y = 0; after a type 0x1 y address
    # (ATIS exposure-measurement rows) single and vector x addresses are not CD events, until a 0x0 one
    words = [0x8001, 0x6005, 0x2803, 0x3800 | 8, 0x4007,       # x = 3; x = 8, 9, 10: no row yet
             0x0002, 0x2804, 0x3000 | 16, 0x5005,              # row 2: x = 4 ON; x = 16, 18 OFF
             0x1003, 0x2805, 0x3800 | 20, 0x4FFF,              # EM row 3: nothing
             0x6009, 0x0001, 0x2006, 0x3800 | 30, 0x5081]      # row 1: x = 6 OFF; x = 30, 37 ON
    path = tmp_path / "rows.raw"
    path.write_bytes(EVT3_HEADER + np.array(words, "<u2").tobytes())
    t, u = 4096 + 5, 4096 + 9
    want = [(4, 2, t, 1), (16, 2, t, -1), (18, 2, t, -1), (6, 1, u, -1), (30, 1, u, 1), (37, 1, u, 1)]
    assert _evt3_spec(words) == want
    assert _read(path, cached, monkeypatch) == want


_WORD = st.one_of(
    st.tuples(st.just(0x0), st.integers(0, 0xFFF)),                       # ADDR_Y, system bit any
    st.tuples(st.just(0x2), st.integers(0, 0x7FF | 0x800)),                # ADDR_X
    st.tuples(st.just(0x3), st.integers(0, 0x3FF) | st.integers(0x800, 0xBFF)),  # VECT_BASE_X, either polarity
    st.tuples(st.sampled_from([0x4, 0x5]), st.integers(0, 0xFFF)),         # VECT_12 / VECT_8, every bit pattern
    st.tuples(st.just(0x6), st.integers(0, 0xFFF)),                        # TIME_LOW
    st.tuples(st.just(0x8), st.integers(0, 0xFFF) | st.integers(0, 3)),     # TIME_HIGH (repeats likely)
    st.tuples(st.sampled_from([0x1, 0x7, 0xA, 0xE, 0xF]), st.integers(0, 0xFFF)),  # EM row, CONTINUED_4, EXT_TRIGGER,
    # OTHERS, CONTINUED_12
)


@settings(max_examples=40, deadline=None)
@given(words=st.lists(_WORD, max_size=120))
def test_evt3_words_read_as_the_spec_says(tmp_path_factory, words):
    words = [k << 12 | v for k, v in words]
    want = _evt3_spec(words)
    path = tmp_path_factory.mktemp("evt3") / "any.raw"
    path.write_bytes(EVT3_HEADER + np.array(words, "<u2").tobytes())
    with open_events(path) as src:
        got = src._read_arrays(0, src.num_events)  # every event in file order, sorted or not
    assert [tuple(int(v) for v in e) for e in zip(*got)] == want


@pytest.mark.parametrize("header", [
    b"% evt 2.1\n% format EVT21;height=720;width=1280\n% end\n",
    b"% format EVT21;height=720;width=1280\n% end\n",
    b"% evt 2.1\n% geometry 1280x720\n% end\n",
])
def test_an_evt21_file_is_refused_by_name_not_read_as_evt2(tmp_path, header, capsys):
    # an EVT 2.1 word is 64 bits: read as two EVT 2.0 words its 32-bit valid mask becomes CD events
    on = (0x1 << 60) | (5 << 54) | (32 << 43) | (7 << 32) | 0x1000_0001  # ON at x = 32, 60; y = 7; t = 5
    path = tmp_path / "evt21.raw"
    path.write_bytes(header + np.array([(0x8 << 60) | (1 << 32), on], "<u8").tobytes())
    with pytest.raises(FormatError, match="EVT 2.1"):
        read_events(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("egvsr: error: ") and "EVT 2.1" in err[0]


@pytest.mark.parametrize("kind", ["evt2", "evt3"])
def test_a_raw_payload_starting_with_a_percent_byte_is_read_not_taken_for_a_header_line(tmp_path, kind):
    # the first event's y is 37 = 0x25 = '%', the payload's first byte; no newline byte after it
    if kind == "evt2":
        header = b"% evt 2.0\n% format EVT2;height=48;width=64\n% end\n"
        words = np.array([(1 << 28) | (5 << 22) | (3 << 11) | 37, (0 << 28) | (6 << 22) | (4 << 11) | 1], "<u4")
    else:
        header = b"% evt 3.0\n% format EVT3;height=48;width=64\n% end\n"
        words = np.array([37, 0x6005, 0x2800 | 3, 0x0001, 0x6006, 0x2004], "<u2")
    path = tmp_path / "pct.raw"
    path.write_bytes(header + words.tobytes())
    assert path.read_bytes()[len(header)] == ord("%") and b"\n" not in path.read_bytes()[len(header):]
    s = read_events(path)
    assert (s.x.tolist(), s.y.tolist(), s.t.tolist(), s.p.tolist()) == ([3, 4], [37, 1], [5, 6], [1, -1])


def test_dat_polarity_is_bit_28_of_the_event_word(tmp_path):
    # Prophesee's DAT loader: x = w & 0x3FFF, y = (w & 0x0FFFC000) >> 14, p = (w & 0x10000000) >> 28; the
    # bits above (29..31) are no part of a CD event and do not make the polarity 2..15
    x, y = np.array([1, 16383, 3, 4], np.uint32), np.array([1, 2, 16383, 3], np.uint32)
    p4 = np.array([0b0010, 0b0011, 0b1000, 0b1111], np.uint32)
    ev = np.zeros(4, [("t", "<u4"), ("w", "<u4")])
    ev["t"], ev["w"] = [0, 5, 10, 20], x | (y << 14) | (p4 << 28)
    path = tmp_path / "p.dat"
    path.write_bytes(b"% Data file containing CD events.\n% Version 2\n% Height 16384\n% Width 16384\n"
                     + bytes([0x0C, 8]) + ev.tobytes())
    s = read_events(path)
    assert (s.x.tolist(), s.y.tolist(), s.t.tolist()) == (x.tolist(), y.tolist(), [0, 5, 10, 20])
    assert s.p.tolist() == [-1, 1, -1, 1]
