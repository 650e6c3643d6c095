"""What voting tells the domains above it: the result of a closed motion, typed, and the listeners that hear of
a close (registered by the composition root, :mod:`app.wiring`; publicity publishes the vote-result notice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class ConditionLine:
    """One threshold condition as the notice prints it: ``numerator``/``denominator`` already in display form
    (households as counts, area as "86.35")."""

    name: str
    label_zh: str
    numerator: str
    denominator: str
    required: str
    met: bool


@dataclass(frozen=True)
class ParticipantRow:
    """A participating household as published: where it is and its area — never a name or a phone."""

    building: str
    unit: str
    room: str
    area_m2: str


@dataclass(frozen=True)
class ClosedMotion:
    """The final result of a closed motion, as stored at close."""

    motion_id: str
    project_id: str
    plan_id: str | None
    title: str
    outcome: str  # passed | failed
    opens_at: datetime
    closed_at: datetime
    conditions: tuple[ConditionLine, ...]
    participants: tuple[ParticipantRow, ...]


class MotionClosedListener(Protocol):
    async def __call__(self, session: AsyncSession, *, closed: ClosedMotion, now: datetime) -> None: ...


CLOSE_LISTENERS: list[MotionClosedListener] = []
"""Called in the closing transaction, once per motion (when its final result is first stored)."""
