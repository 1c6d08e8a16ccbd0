"""Prophesee EVT 3.0 decoder (numba kernel + plain-Python reference used by the tests).

We decode EVT3 ourselves because expelliarmus (tonic's decoder) shifts events by 4096 µs after some
TIME_HIGH updates (docs/io.md). Words are 16-bit little-endian with a 4-bit type: ADDR_Y, ADDR_X,
VECT_BASE_X / VECT_12 / VECT_8 (event runs), TIME_LOW, TIME_HIGH; time = loops * 2^24 + TIME_HIGH * 2^12
+ TIME_LOW µs. As in Prophesee's decoders (OpenEB's `evt3_decoder.h`; its EVT3 sample decoder):
- a TIME_HIGH that changes the time high sets TIME_LOW to 0: an event between it and the next TIME_LOW is at
  the new time high's start, not the old TIME_LOW's µs later (up to 4095 µs late, then a drop at the TIME_LOW);
- an x address (EVT_ADDR_X, VECT_12, VECT_8) is a CD event only after a CD row's EVT_ADDR_Y (type 0x0): before
  the first one no row is known (no event is made up at y = 0), and after a type 0x1 y address (the
  exposure-measurement rows of ATIS sensors) the x addresses are not CD events.
The 24-bit counter wraps every 2^24 µs (16.8 s); each TIME_HIGH step is read the shorter way round it, as
EVT2's and DAT's times are (`prophesee.unwrap_times`): a fall of more than half its range starts a new loop, a
rise of half its range or more steps back across a wrap (a TIME_HIGH a few µs late that straddles a wrap stays a
few µs back, the file reads as unsorted; read as a rise, every later event would be 16.8 s late), except before
the first wrap, where no time lies before the counter's first pass.
A vector event's x past 65535 (the base run on by a damaged run of vectors) is held at 65535, outside the
sensor, never wrapped round onto it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numba
import numpy as np

# decoder state carried across blocks: y, base_x, pol, time_high, time_low, loops, seen_time_high, cd (the
# last y address was a CD row's: EVT_ADDR_Y 0x0, not the 0x1 of exposure-measurement rows)
STATE_SIZE = 8
_HALF_RANGE = 1 << 11
#: the x of a vector event whose base has run past 16 bits (a damaged file: thousands of vectors after one
#: VECT_BASE_X); the uint16 output would wrap it round onto the sensor, so it is held at 65535, outside any
#: sensor (at most 65535 wide), and reported as such
_X_PAST = 0xFFFF


def new_state() -> np.ndarray:
    """Initial decoder state."""
    return np.zeros(STATE_SIZE, np.int64)


@numba.njit(cache=True, nogil=True)
def decode_words(words, state, x, y, t, p):
    """Decode `words` into the output arrays; stop early when they might overflow.

    Returns (events written, words consumed); `state` is updated in place so the next block
    continues where this one stopped. Outputs need room for at least 12 events.
    """
    cy, bx, pol, th, tl, loops, seen, cd = (state[0], state[1], state[2], state[3], state[4], state[5], state[6],
                                            state[7])
    n = 0
    cap = x.shape[0]
    i = 0
    nw = words.shape[0]
    while i < nw:
        if n + 12 > cap:
            break
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x0:
            cy = w & 0x7FF
            cd = 1
        elif kind == 0x1:
            cd = 0
        elif kind == 0x2 and cd:
            ts = (loops << 24) | (th << 12) | tl
            x[n] = w & 0x7FF
            y[n] = cy
            t[n] = ts
            p[n] = 1 if (w >> 11) & 1 else -1
            n += 1
        elif kind == 0x3:
            bx = w & 0x7FF
            pol = (w >> 11) & 1
        elif kind == 0x4 or kind == 0x5:
            width = 12 if kind == 0x4 else 8
            ts = (loops << 24) | (th << 12) | tl
            for b in range(width):
                if cd and (w >> b) & 1:
                    x[n] = min(bx + b, _X_PAST)
                    y[n] = cy
                    t[n] = ts
                    p[n] = 1 if pol else -1
                    n += 1
            bx += width
        elif kind == 0x6:
            tl = w & 0xFFF
        elif kind == 0x8:
            new_th = w & 0xFFF
            if seen and th - new_th > _HALF_RANGE:
                loops += 1
            elif seen and new_th - th >= _HALF_RANGE and loops > 0:
                loops -= 1
            if new_th != th:
                tl = 0  # a new time high starts its 4096 µs at 0 until a TIME_LOW says more (OpenEB)
            th = new_th
            seen = 1
        i += 1
    state[0], state[1], state[2], state[3] = cy, bx, pol, th
    state[4], state[5], state[6], state[7] = tl, loops, seen, cd
    return n, i


def decode_reference(words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain-Python decoder of a whole word array (slow; the tests' reference)."""
    xs, ys, ts, ps = [], [], [], []
    cy = bx = pol = th = tl = loops = 0
    seen = cd = False
    for w in (int(v) for v in words):
        kind, payload = w >> 12, w & 0xFFF
        now = loops * (1 << 24) + th * 4096 + tl
        if kind == 0x0:
            cy, cd = payload & 0x7FF, True
        elif kind == 0x1:
            cd = False  # an exposure-measurement row: the x addresses after it are no CD events
        elif kind == 0x2 and cd:
            xs.append(payload & 0x7FF), ys.append(cy), ts.append(now), ps.append(1 if payload >> 11 else -1)
        elif kind == 0x3:
            bx, pol = payload & 0x7FF, payload >> 11
        elif kind in (0x4, 0x5):
            width = 12 if kind == 0x4 else 8
            for b in range(width):
                if cd and payload >> b & 1:
                    xs.append(min(bx + b, _X_PAST)), ys.append(cy), ts.append(now), ps.append(1 if pol else -1)
            bx += width
        elif kind == 0x6:
            tl = payload
        elif kind == 0x8:
            if seen and th - payload > _HALF_RANGE:
                loops += 1  # a wrap: time goes on
            elif seen and payload - th >= _HALF_RANGE and loops > 0:
                loops -= 1  # a step back across the wrap before
            if payload != th:
                tl = 0  # the old TIME_LOW belongs to the old time high
            th, seen = payload, True
    return (np.array(xs, np.int64), np.array(ys, np.int64), np.array(ts, np.int64), np.array(ps, np.int8))


def decode_file(path: str | os.PathLike, data_offset: int, block_words: int = 1 << 21
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (x uint16, y uint16, t int64 µs, p int8) per block of a `.raw` file's EVT3 payload."""
    state = new_state()
    size = (path.stat().st_size - data_offset) // 2
    pos = 0
    while pos < size:
        words = np.fromfile(path, np.uint16, count=min(block_words, size - pos), offset=data_offset + 2 * pos)
        if words.size == 0:
            break
        start = 0
        while start < words.size:
            cap = 2 * (words.size - start) + 12
            x = np.empty(cap, np.uint16)
            y = np.empty(cap, np.uint16)
            t = np.empty(cap, np.int64)
            p = np.empty(cap, np.int8)
            n, used = decode_words(words[start:], state, x, y, t, p)
            start += used
            yield x[:n].copy(), y[:n].copy(), t[:n].copy(), p[:n].copy()
        pos += words.size
