"""The IOHeader flatbuffer's `dataTablePosition` (field 1, an int64) as `aedat4._data_table_position` reads it
from a hand-laid buffer: the root table's u32 offset at byte 0, its vtable found by the table's signed
offset, and each field's u16 offset in the vtable after its size and the table's size (flatbuffers'
layout). A vtable too short to hold field 1 means the field is absent: no data table (-1)."""

from __future__ import annotations

import struct

import pytest

from egvsr.events.io.aedat4 import _data_table_position


def _header(fields: list[int], table_bytes: bytes) -> bytes:
    """A root table at byte 16 whose vtable (at byte 4) lists the u16 `fields` offsets."""
    vtable = struct.pack(f"<HH{len(fields)}H", 4 + 2 * len(fields), 4 + len(table_bytes), *fields)
    head = struct.pack("<I", 16) + vtable
    head += b"\0" * (16 - len(head))
    return head + struct.pack("<i", 16 - 4) + table_bytes


def test_a_present_field_gives_its_int64():
    body = struct.pack("<iq", 0, 123456789)  # compression (field 0) at +4, dataTablePosition at +8
    assert _data_table_position(_header([4, 8], body)) == 123456789
    assert _data_table_position(_header([4, 8], struct.pack("<iq", 0, -1))) == -1


@pytest.mark.parametrize("fields", [[4], []])
def test_a_vtable_without_field_one_means_no_data_table(fields):
    """Bytes that would read as a position at any nearby offset must not be taken for one."""
    body = struct.pack("<i", 0) + bytes(range(1, 17))
    assert _data_table_position(_header(fields, body)) == -1


def test_a_zero_offset_means_the_field_was_left_at_its_default():
    body = struct.pack("<i", 0) + bytes(range(1, 17))
    assert _data_table_position(_header([4, 0], body)) == -1


def test_a_field_beyond_the_buffer_is_no_table():
    assert _data_table_position(_header([4, 200], struct.pack("<iq", 0, 7))) == -1
