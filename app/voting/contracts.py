"""What voting tells the domains above it: the result of a closed motion and a motion's frozen roll, typed, and
the listeners that hear of a close or a freeze (registered by the composition root, :mod:`app.wiring`; publicity
publishes the vote-result notice and the vote notice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.rules import Rule


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


@dataclass(frozen=True)
class FrozenRoll:
    """A motion's electoral roll as frozen when the motion opened (see :mod:`app.voting.roll`): what the vote
    notice (投票公告) publishes. ``area`` in 0.01 m²; ``building``/``unit`` are the scope's names (None when the
    scope is wider); ``rule`` is the rule the motion decides by, frozen with it."""

    motion_id: str
    project_id: str
    community_id: str
    plan_id: str | None
    title: str
    scope: str  # community | building | unit
    building: str | None
    unit: str | None
    households: int
    owners: int
    area: int
    roll_hash: str
    opens_at: datetime
    closes_at: datetime
    frozen_at: datetime
    rule: Rule


class RollFrozenListener(Protocol):
    async def __call__(self, session: AsyncSession, *, frozen: FrozenRoll, now: datetime) -> None: ...


ROLL_FROZEN_LISTENERS: list[RollFrozenListener] = []
"""Called in the freezing transaction, once per motion (right after its roll is frozen)."""


class EvidenceSource(Protocol):
    """Files a domain above voting adds to a closed motion's evidence pack (publicity: its notices with their
    objections and resolutions): a list of (file name inside the zip, bytes). Read-only."""

    async def __call__(self, session: AsyncSession, *, motion_id: str) -> list[tuple[str, bytes]]: ...


EVIDENCE_SOURCES: list[EvidenceSource] = []
"""Asked in order when an evidence pack is built (registered by :mod:`app.wiring`)."""
