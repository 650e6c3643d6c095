"""What voting tells the domains above it: the result of a closed motion and a motion's frozen roll, typed, and
the listeners that hear of a close or a freeze (registered by the composition root, :mod:`app.wiring`; publicity
publishes the vote-result notice and the vote notice). And what voting asks of publicity, the layer above it:
the state of each motion's vote-result notice (a result is ``final`` only once that notice has passed) and the
objection a correction of the count answers (:data:`RESULT_PUBLICITY`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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
class ResultCorrectionNote:
    """What a correction of the count changed, as the republished result notice states it: places only (building,
    unit, room, area), never a choice. ``from_place``: the household a moved ballot had been entered for, or
    the household of a voided ballot; ``to_place``: the household a moved or added ballot counts for now. A
    ``reaffirm`` changes no ballot (both places None): the committee found the count right after all and
    republishes it unchanged, for the reason given."""

    action: str  # move | void | add | reaffirm
    reason: str
    objection_id: str
    from_place: ParticipantRow | None
    to_place: ParticipantRow | None


@dataclass(frozen=True)
class ClosedMotion:
    """The final result of a closed motion, as stored: at close (``revision`` 1), or after a correction of the
    count (revision n+1, with the ``correction`` that produced it)."""

    motion_id: str
    project_id: str
    plan_id: str | None
    title: str
    outcome: str  # passed | failed
    opens_at: datetime
    closed_at: datetime
    conditions: tuple[ConditionLine, ...]
    participants: tuple[ParticipantRow, ...]
    revision: int = 1
    correction: ResultCorrectionNote | None = None


class MotionClosedListener(Protocol):
    async def __call__(self, session: AsyncSession, *, closed: ClosedMotion, now: datetime) -> None: ...


CLOSE_LISTENERS: list[MotionClosedListener] = []
"""Called in the closing transaction, once per motion (when its final result is first stored), and again in
the transaction of each correction of the count, with the new revision (publicity republishes the result)."""


@dataclass(frozen=True)
class ResultNotice:
    """A motion's latest vote-result notice as publicity derives it now: its status (scheduled | open | passed |
    failed), whether its window has ended, and the objections that still stand in the way of a final result —
    ``pending``: unanswered on ANY of the motion's result notices; ``accepted``: accepted on this one."""

    notice_id: str
    revision: int
    status: str
    window_ended: bool
    start_date: date
    end_date: date
    closes_at: datetime
    pending: int
    accepted: int


class ResultNoticeReader(Protocol):
    async def __call__(self, session: AsyncSession, *, motion_ids: list[str],
                       now: datetime) -> dict[str, ResultNotice]: ...


@dataclass(frozen=True)
class ResultObjection:
    """An objection filed against a vote-result notice: the notice, its motion and revision, the objection's
    status (pending | accepted | rejected)."""

    objection_id: str
    notice_id: str
    motion_id: str
    revision: int
    status: str


class ResultObjectionReader(Protocol):
    async def __call__(self, session: AsyncSession, *, objection_id: str) -> ResultObjection | None: ...


class ResultPublicity:
    """What publicity answers voting about results; filled once by :func:`app.wiring.wire`."""

    def __init__(self) -> None:
        self.notices: ResultNoticeReader | None = None
        self.objection: ResultObjectionReader | None = None

    def notice_reader(self) -> ResultNoticeReader:
        if self.notices is None:
            raise RuntimeError("no reader of vote-result notices registered (see app.wiring)")
        return self.notices

    def objection_reader(self) -> ResultObjectionReader:
        if self.objection is None:
            raise RuntimeError("no reader of result objections registered (see app.wiring)")
        return self.objection


RESULT_PUBLICITY = ResultPublicity()


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
    """Files added to a closed motion's evidence pack by a domain above voting (publicity: its notices with their
    objections and resolutions) or by a part of voting the pack's builder does not know (the result revisions
    and corrections): a list of (file name inside the zip, bytes). Read-only."""

    async def __call__(self, session: AsyncSession, *, motion_id: str) -> list[tuple[str, bytes]]: ...


EVIDENCE_SOURCES: list[EvidenceSource] = []
"""Asked in order when an evidence pack is built (registered by :mod:`app.wiring`)."""


@dataclass(frozen=True)
class PlanVersioned:
    """A plan version just stored, with its items: version 1 of a project's plan, or a revision that supersedes
    ``supersedes``."""

    plan_id: str
    project_id: str
    community_id: str
    version: int
    supersedes: str | None
    actor_id: str | None


class PlanVersionListener(Protocol):
    async def __call__(self, session: AsyncSession, *, plan: PlanVersioned, now: datetime) -> None: ...


PLAN_LISTENERS: list[PlanVersionListener] = []
"""Called in the transaction that stores a plan version, after its items (funding carries the residents' share
ledger over to the new version's items and marks the items it no longer lists dropped)."""
