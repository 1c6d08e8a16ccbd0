"""A time file's seconds read exactly (`decimal_seconds_to_us`): the decimal as written times 10**6, rounded to
the nearest µs (ties to even), against `fractions.Fraction` (docs/simulator.md, listed times)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.events.checks import INT64_MAX, INT64_MIN
from egvsr.events.simulate.video_input import decimal_seconds_to_us

_LIMIT = Decimal(2**64) / 10**6


def _reference(text: str) -> int | None:
    us = round(Fraction(text) * 10**6)  # Fraction rounds a tie to the even integer
    return us if INT64_MIN <= us <= INT64_MAX else None


@settings(max_examples=400, deadline=None)
@given(st.decimals(min_value=-_LIMIT, max_value=_LIMIT, allow_nan=False, allow_infinity=False),
       st.sampled_from(["{}", " {} ", "{:e}", "{:f}"]))
def test_any_decimal_reads_as_its_exact_microseconds(value, form):
    text = form.format(value)
    assert decimal_seconds_to_us(text) == _reference(text.strip()), text


def test_ties_far_clocks_and_the_int64_edge():
    assert [decimal_seconds_to_us(t) for t in ("0.0000005", "0.0000015", "-0.0000025", "1e-7")] == [0, 2, -2, 0]
    assert decimal_seconds_to_us("9007199254.278052") == 9007199254278052  # float64 seconds gave ...051
    assert decimal_seconds_to_us("9223372036854.775807") == INT64_MAX
    assert decimal_seconds_to_us("9223372036854.775808") is None
    assert decimal_seconds_to_us("-9223372036854.775808") == INT64_MIN
    assert decimal_seconds_to_us("1e300") is None
