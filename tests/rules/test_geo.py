"""GPS distances for the same-spot check (app.rules.geo): whole metres, an integer threshold.

Reference values are meridian and equator arcs, R·Δφ on the sphere of radius 6 371 008.8 m (one degree is
111 195.08 m, one arc-second 30.89 m), worked out by hand rather than by the haversine under test.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rules.geo import GeoPoint, distance_m, farthest_from_nearest, parse_point, point_or_none, within

QINGDAO = parse_point("36.104167", "120.468333")


def test_parsed_exactly_and_range_checked() -> None:
    p = parse_point("36.10416700", " -120.5 ")
    assert p == GeoPoint(Fraction(36104167, 1000000), Fraction(-241, 2))
    for lat, lon in (("90.0000001", "0"), ("0", "180.00000001"), ("abc", "1"), ("NaN", "1"), ("Infinity", "1")):
        with pytest.raises(ValueError):
            parse_point(lat, lon)
    assert point_or_none(None, "120") is None and point_or_none("36", None) is None
    assert point_or_none("91", "120") is None and point_or_none("x", "y") is None
    assert point_or_none("36.1", "120.4") == parse_point("36.1", "120.4")


def test_arcs_in_whole_metres() -> None:
    assert distance_m(QINGDAO, QINGDAO) == 0
    assert distance_m(parse_point("36", "120"), parse_point("37", "120")) == 111195  # one degree of meridian
    assert distance_m(parse_point("0", "10"), parse_point("0", "11")) == 111195  # one degree of equator
    # one and two arc-seconds of latitude: 30.89 m and 61.78 m
    assert distance_m(parse_point("36", "120"), parse_point("36.00027778", "120")) == 31
    assert distance_m(parse_point("36", "120"), parse_point("36.00055556", "120")) == 62
    # the antimeridian is no edge: 0.001° of equator is 111.2 m
    assert distance_m(parse_point("0", "179.9995"), parse_point("0", "-179.9995")) == 111
    # Beijing (Tiananmen) to Shanghai (People's Square): about 1068 km
    assert 1_067_000 < distance_m(parse_point("39.9087", "116.3975"), parse_point("31.2304", "121.4737")) < 1_069_000


def test_threshold_is_an_integer_comparison() -> None:
    base = parse_point("36", "120")
    just_in = parse_point("36.00045326", "120")  # 50.40 m: 50 whole metres
    just_out = parse_point("36.00045417", "120")  # 50.50 m: 51 whole metres
    assert distance_m(base, just_in) == 50 and within(base, just_in, 50)
    assert distance_m(base, just_out) == 51 and not within(base, just_out, 50) and within(base, just_out, 51)
    for bad in (-1, True, 50.0):
        with pytest.raises(ValueError):
            within(base, just_in, bad)  # type: ignore[arg-type]


def test_farthest_shot_from_its_nearest_spot() -> None:
    a, b = parse_point("36", "120"), parse_point("37", "120")
    near_a, near_b = parse_point("36.00027778", "120"), parse_point("37.00055556", "120")
    assert farthest_from_nearest([], [a]) is None and farthest_from_nearest([a], []) is None
    assert farthest_from_nearest([a, b], [near_a]) == 31
    assert farthest_from_nearest([a, b], [near_a, near_b]) == 62  # each shot measured to its own nearest spot
    assert farthest_from_nearest([a], [near_a, near_b]) == distance_m(a, near_b)


coords = st.tuples(st.decimals(min_value=-89, max_value=89, places=6, allow_nan=False, allow_infinity=False),
                   st.decimals(min_value=-179, max_value=179, places=6, allow_nan=False, allow_infinity=False))


@given(coords, coords, coords)
def test_symmetric_and_triangle(p: tuple, q: tuple, r: tuple) -> None:
    a, b, c = (parse_point(str(x), str(y)) for x, y in (p, q, r))
    assert distance_m(a, b) == distance_m(b, a) >= 0
    assert distance_m(a, c) <= distance_m(a, b) + distance_m(b, c) + 1  # +1: each side is rounded
