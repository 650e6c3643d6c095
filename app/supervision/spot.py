"""The same-spot check of a rectification (整改前后同点位): are the after-photos taken where the problem was?

The report's spot is its form GPS (``gps_lat``/``gps_lon``) when given, else the GPS read from its photos'
EXIF. A rectification's shots are the EXIF GPS of the after-photos it names. When both carry GPS, each shot
must be within the rules profile's ``same_spot_distance_m`` of the nearest spot (whole metres, an integer
comparison: :mod:`app.rules.geo`); if one is farther the rectification is marked ``location_unverified`` for
the verifier — never refused, as phone GPS is imprecise indoors and between tall buildings. Without GPS on
either side it is ``no_gps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.media.models import MediaObject
from app.rules.geo import GeoPoint, farthest_from_nearest, point_or_none
from app.supervision.models import LocationCheck, Report


@dataclass(frozen=True)
class SpotCheck:
    check: LocationCheck
    distance_m: int | None  # the farthest shot's distance to its nearest spot
    threshold_m: int


def report_spots(report: Report, photos: list[MediaObject]) -> list[GeoPoint]:
    own = point_or_none(report.gps_lat, report.gps_lon)
    if own is not None:
        return [own]
    return [p for p in (point_or_none(m.gps_lat, m.gps_lon) for m in photos) if p is not None]


def same_spot(report: Report, report_photos: list[MediaObject], after_photos: list[MediaObject],
              threshold_m: int) -> SpotCheck:
    spots = report_spots(report, report_photos)
    shots = [p for p in (point_or_none(m.gps_lat, m.gps_lon) for m in after_photos) if p is not None]
    distance = farthest_from_nearest(spots, shots)
    if distance is None:
        return SpotCheck(LocationCheck.NO_GPS, None, threshold_m)
    check = LocationCheck.SAME_SPOT if distance <= threshold_m else LocationCheck.UNVERIFIED
    return SpotCheck(check, distance, threshold_m)
