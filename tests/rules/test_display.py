"""Percent display from integers: rounded half up, never through a float."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from app.rules import percent_text


def test_examples() -> None:
    assert percent_text(2, 3) == "66.67"
    assert percent_text(1, 8) == "12.50"
    assert percent_text(1, 200, decimals=1) == "0.5"  # 0.5 % exactly
    assert percent_text(1, 400, decimals=1) == "0.3"  # 0.25 % rounds half up
    assert percent_text(7, 7, decimals=0) == "100"
    assert percent_text(1, 0) is None


@given(st.integers(0, 10**9), st.integers(1, 10**9), st.integers(0, 4))
def test_half_up_in_integers(n: int, d: int, decimals: int) -> None:
    text = percent_text(n, d, decimals=decimals)
    assert text is not None
    exact = Fraction(n * 100, d)
    shown = Fraction(text.replace(".", "")) / 10**decimals
    step = Fraction(1, 10**decimals)
    assert exact - step / 2 < shown <= exact + step / 2  # within half a step; a tie goes up, never down
