"""How far apart two GPS points are, for the same-spot check of after-photos (整改前后同点位拍照).

Points come as decimal-degree strings (a report's form fields, a photo's EXIF as :mod:`app.media.images` reads
it, six places) and are parsed exactly (:class:`fractions.Fraction`), range-checked, and never rounded on the
way in. The distance is the great-circle distance on a sphere of the IUGG mean Earth radius (6 371 008.8 m),
by the haversine formula in floats: a sphere is within 0.5 % of the ellipsoid, far below a phone's GPS error
(5–50 m outdoors, worse indoors), and the float error is below a micrometre at these distances.

What decides is an integer: the distance rounded to whole metres (half up) compared with the profile's
integer threshold (``distance_m(a, b) <= threshold``). So the same two points give the same answer on every
machine, and "50 m" means 50.4999… m passes and 50.5 m does not. Pure code, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class GeoPoint:
    """Latitude (−90…90) and longitude (−180…180) in degrees, exact."""

    lat: Fraction
    lon: Fraction


def _degrees(text: str, limit: int, name: str) -> Fraction:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a decimal string, got {type(text).__name__}")
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal number: {text!r}") from None
    if not d.is_finite():
        raise ValueError(f"{name} is not a finite number: {text!r}")
    value = Fraction(d)
    if abs(value) > limit:
        raise ValueError(f"{name} out of range (±{limit}): {text!r}")
    return value


def parse_point(lat: str, lon: str) -> GeoPoint:
    """A point from decimal-degree strings ("36.104167", "120.468333"); ValueError when out of range."""
    return GeoPoint(_degrees(lat, 90, "latitude"), _degrees(lon, 180, "longitude"))


def point_or_none(lat: str | None, lon: str | None) -> GeoPoint | None:
    """The point when both coordinates are present and valid, else None (no GPS, or a broken pair)."""
    if lat is None or lon is None:
        return None
    try:
        return parse_point(lat, lon)
    except (ValueError, TypeError):
        return None


def distance_m(a: GeoPoint, b: GeoPoint) -> int:
    """Great-circle distance in whole metres (rounded half up)."""
    phi1, phi2 = math.radians(float(a.lat)), math.radians(float(b.lat))
    dphi = math.radians(float(b.lat - a.lat))
    dlam = math.radians(float(b.lon - a.lon))
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
    return math.floor(metres + 0.5)


def within(a: GeoPoint, b: GeoPoint, threshold_m: int) -> bool:
    """Whether the two points are at most ``threshold_m`` whole metres apart (integer comparison)."""
    if isinstance(threshold_m, bool) or not isinstance(threshold_m, int) or threshold_m < 0:
        raise ValueError(f"threshold_m must be a non-negative integer, got {threshold_m!r}")
    return distance_m(a, b) <= threshold_m


def farthest_from_nearest(spots: list[GeoPoint], shots: list[GeoPoint]) -> int | None:
    """For each of ``shots``, the distance to the nearest of ``spots``; the largest of these (None when
    either list is empty). With a threshold: every shot is near some spot exactly when this is ≤ it."""
    if not spots or not shots:
        return None
    return max(min(distance_m(s, p) for s in spots) for p in shots)
