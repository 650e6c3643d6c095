"""What auth needs of the register, which sits above it (docs/ARCHITECTURE.md).

Auth builds the principal (which households a user belongs to, and where they are), shows a user their
households and binds a user to a household on activation or by invitation; the households themselves are the register's.
Auth declares what it needs as :class:`HouseholdDirectory`; the composition root (:mod:`app.wiring`)
registers the register's implementation at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import HouseholdRef


@dataclass(frozen=True)
class NamedPlace:
    id: str
    name: str


@dataclass(frozen=True)
class HouseholdCard:
    """A user's household as they see it on ``/me``."""

    household_id: str
    community: NamedPlace
    building: NamedPlace
    unit: NamedPlace
    room: str
    area_centi: int
    relation: str


@dataclass(frozen=True)
class ActivationTarget:
    """The household an activation code binds to, and how many members it may have."""

    household_id: str
    community_id: str
    max_members: int


class HouseholdDirectory(Protocol):
    async def memberships(self, session: AsyncSession, *, user_id: str) -> list[HouseholdRef]:
        """The user's households with their place and the user's relation (one query: it runs per request)."""
        ...

    async def cards(self, session: AsyncSession, *, user_id: str) -> list[HouseholdCard]:
        """The user's households by community, building, unit, room."""
        ...

    async def activation_target(self, session: AsyncSession, *, household_id: str) -> ActivationTarget:
        """The household (404 if it does not exist, 409 ``household.inactive`` if deactivated) and its member
        cap from the rules profile; its row is locked for the rest of the transaction (FOR UPDATE), so two
        activations or joins at once count the members one after the other."""
        ...


class _Registry:
    def __init__(self) -> None:
        self.households: HouseholdDirectory | None = None

    def directory(self) -> HouseholdDirectory:
        if self.households is None:
            raise RuntimeError("no household directory registered (see app.wiring)")
        return self.households


DIRECTORY = _Registry()
