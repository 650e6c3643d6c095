"""What the register tells the domains above it before it changes a community's households (docs/ARCHITECTURE.md).

Voting freezes the electoral roll of a motion when it opens; a register change must not slip into a roll
after opening. The register calls every :class:`RegisterChangeListener` in its own transaction BEFORE it
writes; the composition root (:mod:`app.wiring`) registers voting's. Each listener answers with the open
rolls the change leaves as they are, which the register reports to staff (``open_rolls_unchanged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class OpenRoll:
    """An open motion (or questionnaire) whose frozen roll a register change does not alter."""

    kind: str  # motion
    id: str
    title: str


class RegisterChangeListener(Protocol):
    async def __call__(self, session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]: ...


REGISTER_CHANGE_LISTENERS: list[RegisterChangeListener] = []
"""Called in the register's transaction, before a community's households change."""


async def before_register_change(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenRoll]:
    out: list[OpenRoll] = []
    for listener in REGISTER_CHANGE_LISTENERS:
        out += await listener(session, community_id=community_id, now=now)
    return out
