"""Owner headcount and exclusive area (SPC interpretation on building co-ownership, arts. 8–9)."""

from __future__ import annotations

from collections.abc import Iterable

from app.rules.thresholds import Voter


def headcount_and_area(voters: Iterable[Voter]) -> tuple[int, int]:
    """(distinct owner keys, summed area in 0.01 m²): households sharing an owner key count as one owner."""
    owners: set[str] = set()
    area = 0
    for voter in voters:
        owners.add(voter.owner_key)
        area += voter.area
    return len(owners), area
