"""Prophesee EVT 2.0 decoder (numpy, block by block, bounded memory).

We decode EVT2 ourselves because expelliarmus (tonic's decoder) 1.1.12 stops at a word of a type it does not
know, printing `ERROR: event type not recognised` and returning no events for the whole read (the chunk holding
the word, and every later one), which read as an empty or shortened recording. Words are 32-bit little-endian
with the type in the top 4 bits: CD_OFF 0x0 / CD_ON 0x1 (bits 27..22 the time's low 6 bits, 21..11 x, 10..0 y),
EV_TIME_HIGH 0x8 (bits 27..0 the time >> 6); EXT_TRIGGER 0xA, OTHERS 0xE and CONTINUED 0xF carry no CD event
and are skipped; the other types are reserved, so such a word means a damaged (or not EVT2) file: refused,
naming its byte offset. Times are the 34-bit counter value (the caller unwraps it); CD events before the first
EV_TIME_HIGH take a time high of 0, as expelliarmus has it; a last word cut short by the end of the file is
left out, as there (`PropheseeSource.damage()` reports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from egvsr.errors import FormatError

CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED = 0x0, 0x1, 0x8, 0xA, 0xE, 0xF
_RESERVED = np.ones(16, bool)
_RESERVED[[CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED]] = False


def decode_file(
    path: Path, data_offset: int, block_words: int = 1 << 20
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (x uint16, y uint16, t int64 34-bit counter µs, p int8 ±1) per block of `block_words` words of a
    `.raw` file's EVT2 payload (starting at byte `data_offset`); `FormatError` at a word of a reserved type."""
    path = Path(path)
    size = (path.stat().st_size - data_offset) // 4
    high, pos = 0, 0
    while pos < size:
        words = np.fromfile(path, "<u4", count=min(block_words, size - pos), offset=data_offset + 4 * pos)
        if words.size == 0:
            break
        x, y, t, p, high = _decode_block(words, high, path, data_offset + 4 * pos)
        yield x, y, t, p
        pos += words.size


def _decode_block(words: np.ndarray, high: int, path: Path, offset: int):
    """One block's CD events and the time high in force after it (`high`: the one in force before it)."""
    kind = words.view(np.uint8)[3::4] >> 4  # the top byte's high nibble (little-endian words)
    cd = kind <= CD_ON
    n_cd = int(np.count_nonzero(cd))
    th_pos = np.flatnonzero(kind == TIME_HIGH)
    cd_before_th = th_pos - np.arange(th_pos.size)  # CD words before each time high, when no other words
    if n_cd + th_pos.size < words.size:  # EXT_TRIGGER / OTHERS / CONTINUED words, or reserved ones
        reserved = _RESERVED[kind]
        if reserved.any():
            i = int(np.argmax(reserved))
            raise FormatError(
                f"{path}: the EVT2 word at byte {offset + 4 * i} has event type {int(kind[i]):#x}, which EVT 2.0 "
                "reserves (known: 0x0/0x1 CD, 0x8 EV_TIME_HIGH, 0xA EXT_TRIGGER, 0xE OTHERS, 0xF CONTINUED); "
                "the file is damaged or not EVT2"
            )
        cd_before_th -= np.searchsorted(np.flatnonzero(kind >= EXT_TRIGGER), th_pos)  # 0xA/0xE/0xF words
    highs = np.empty(th_pos.size + 1, np.int64)
    highs[0] = high
    highs[1:] = words[th_pos] & 0xFFFFFFF
    t = np.repeat(highs << 6, np.diff(cd_before_th, prepend=0, append=n_cd))
    cd_words = words[cd]
    low = cd_words.view("<u2")[1::2] >> 6  # bits 27..22: the upper half-word's bits 11..6
    low &= 0x3F
    t |= low
    x = np.empty(cd_words.size, np.uint16)
    np.right_shift(cd_words, 11, out=x, casting="unsafe")
    x &= 0x7FF
    y = cd_words.astype(np.uint16)
    y &= 0x7FF
    p = (cd_words.view(np.uint8)[3::4] >> 4).view(np.int8)  # CD_OFF 0 / CD_ON 1 -> -1 / +1
    p *= 2
    p -= 1
    return x, y, t, p, int(highs[-1])
