"""Households in scope: the one definition of which households of the register a community, a building or a
unit holds.

A scope is a community, optionally narrowed to one building or one unit of it. The households in it are the
ACTIVE households there: a household deactivated by staff (merged into another, demolished, entered twice)
stays in the register with its history — ballots, responses, roll entries refer to it — but is in no scope:
it is frozen into no new roll and counted in no denominator.

Every domain that asks "which households are in this scope" — voting (a motion's register population before
its roll is frozen, and the roll it is frozen from), surveys (a questionnaire's electorate), turnout (who has
not answered yet, who has read a notice), the register itself (community and unit counts) — builds its query
from :func:`households_in` (SQL) or :func:`contains` (a loaded row), so a change to what "in scope" means is
made here once. A frozen roll is the population of its item from then on and does not come back here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col

from app.register.models import Household


def active(h: Any = Household) -> ColumnElement[bool]:
    """The household counts: it has not been deactivated."""
    return col(h.deactivated_at).is_(None)


def households_in(community_id: Any, *, building_id: Any = None, unit_id: Any = None,
                  h: Any = Household) -> list[ColumnElement[bool]]:
    """WHERE conditions selecting the active households of a community, or of one building or one unit of it.

    Each id is a value or a column of the enclosing query (a correlated scope, e.g. a motion's row); None
    leaves that level open. ``h`` is the household table or an alias of it.
    """
    conds = [col(h.community_id) == community_id, active(h)]
    if building_id is not None:
        conds.append(col(h.building_id) == building_id)
    if unit_id is not None:
        conds.append(col(h.unit_id) == unit_id)
    return conds


def contains(household: Household, community_id: str, *, building_id: str | None = None,
             unit_id: str | None = None) -> bool:
    """The same test as :func:`households_in` on a household already loaded."""
    return (household.community_id == community_id and household.deactivated_at is None
            and (building_id is None or household.building_id == building_id)
            and (unit_id is None or household.unit_id == unit_id))
