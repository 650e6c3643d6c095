"""The residents' share split (app.rules.shares): largest remainder in integer fen, checked by properties
against exact integer arithmetic, and by hand-worked examples."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules.shares import SplitRule, largest_remainder, short_of, split_share, yuan_text

MODERATE = settings(max_examples=400, deadline=None, database=None)
totals = st.integers(min_value=0, max_value=10**13)
# areas in 0.01 m² (1 m² … 10,000 m²), some households of equal area
areas = st.lists(st.integers(min_value=100, max_value=1_000_000), min_size=1, max_size=60)


@MODERATE
@given(total=totals, weights=areas)
def test_shares_sum_exactly_and_each_is_within_one_fen_of_its_quota(total: int, weights: list[int]) -> None:
    shares = largest_remainder(total, weights)
    assert sum(shares) == total
    whole = sum(weights)
    for s, w in zip(shares, weights, strict=True):
        quota = Fraction(total * w, whole)
        assert abs(s - quota) < 1
        assert s * whole >= total * w - (whole - 1)  # ⌊q⌋ ≤ s …
        assert s <= total * w // whole + 1  # … ≤ ⌊q⌋ + 1


@MODERATE
@given(total=totals, weights=areas)
def test_a_larger_weight_never_gets_less(total: int, weights: list[int]) -> None:
    shares = largest_remainder(total, weights)
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            if wi > wj:
                assert shares[i] >= shares[j]
            if wi == wj:
                assert abs(shares[i] - shares[j]) <= 1


@MODERATE
@given(total=totals, n=st.integers(min_value=1, max_value=500))
def test_equal_split_differs_by_at_most_one_fen(total: int, n: int) -> None:
    shares = split_share(total, SplitRule.EQUAL, areas=[1] * n, opted_in=[False] * n)
    assert shares is not None and sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)  # the leftover fen go to the first households


@MODERATE
@given(total=totals, flags=st.lists(st.booleans(), min_size=1, max_size=80))
def test_opted_in_pays_alone(total: int, flags: list[bool]) -> None:
    shares = split_share(total, SplitRule.OPTED_IN, areas=[5000] * len(flags), opted_in=flags)
    if not any(flags) and total > 0:
        assert shares is None
        return
    assert shares is not None and sum(shares) == total
    assert all(s == 0 for s, f in zip(shares, flags, strict=True) if not f)
    paying = [s for s, f in zip(shares, flags, strict=True) if f]
    if paying:
        assert max(paying) - min(paying) <= 1


def test_worked_examples() -> None:
    # 100 fen over three equal households: 34, 33, 33 (the first position takes the extra fen)
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    # Anqiu-style energy saving: residents pay 70 % of 1,000,000 fen = 700,000 fen over 80.00, 75.50, 90.25 m²:
    # exact quotas 227,873.86…, 215,055.95…, 257,070.19…; the floors sum to 699,998 and the two fen left go to
    # the two largest remainders (.95…, then .86…)
    assert largest_remainder(700_000, [8000, 7550, 9025]) == [227_874, 215_056, 257_070]
    # the larger remainder first: 1 fen over weights 1, 2, 1 (W = 4): quotas 1/4, 2/4, 1/4, all floors 0,
    # remainders 1, 2, 1 — the one fen goes to the remainder 2
    assert largest_remainder(1, [1, 2, 1]) == [0, 1, 0]
    # equal remainders, the larger weight first: 2 fen over weights 1, 3 (W = 4): quotas 2/4 and 6/4, floors 0 and
    # 1, remainders 2·1 mod 4 = 2 and 2·3 mod 4 = 2 (equal); the one fen left goes to the weight 3 wherever it
    # stands (by position alone the first would get it: [1, 1])
    assert largest_remainder(2, [1, 3]) == [0, 2]
    assert largest_remainder(2, [3, 1]) == [2, 0]
    # equal remainders and equal weights: the earlier position first (3 fen over four weights 2: quotas 3/4)
    assert largest_remainder(3, [2, 2, 2, 2]) == [1, 1, 1, 0]
    # the remainder before the weight, then the position: 3 fen over weights 3, 1, 1, 3 (W = 8): quotas 9/8, 3/8,
    # 3/8, 9/8, floors 1, 0, 0, 1, remainders 1, 3, 3, 1; the one fen left goes to a remainder 3 (not to a larger
    # weight), and of the two (both weight 1) to the earlier
    assert largest_remainder(3, [3, 1, 1, 3]) == [1, 1, 0, 1]
    assert largest_remainder(0, [0, 0]) == [0, 0]
    assert split_share(0, SplitRule.OPTED_IN, areas=[100], opted_in=[False]) == [0]
    assert split_share(10, SplitRule.BY_AREA, areas=[], opted_in=[]) is None


def test_refused_input() -> None:
    with pytest.raises(ValueError):
        largest_remainder(-1, [1])
    with pytest.raises(ValueError):
        largest_remainder(1, [1, -1])
    with pytest.raises(ValueError):
        largest_remainder(5, [0, 0])
    with pytest.raises(ValueError):
        split_share(5, SplitRule.EQUAL, areas=[1, 2], opted_in=[True])


def test_display_helpers() -> None:
    assert yuan_text(1_234_567) == "12,345.67" and yuan_text(5) == "0.05" and yuan_text(-105) == "-1.05"
    assert yuan_text(0) == "0.00"
    assert short_of(70, 100) == 30 and short_of(120, 100) == 0
