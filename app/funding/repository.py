"""Every query of the residents' share ledger."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import upsert_insert
from app.funding.models import FundingLine, FundingPayment, FundingPledge, FundingRollEntry


async def lines_of(session: AsyncSession, project_id: str, *, lock: bool = False) -> list[FundingLine]:
    """The project's ledger lines by position; ``lock``: FOR UPDATE (every write of a project's ledger takes
    them first, so that two writes settle the lines' status one after the other; SQLite serialises writers)."""
    q = (select(FundingLine).where(col(FundingLine.project_id) == project_id)
         .order_by(col(FundingLine.position), col(FundingLine.id)))
    if lock:
        q = q.with_for_update()
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def insert_line(session: AsyncSession, line: FundingLine) -> bool:
    """Insert a line unless the project already has one with its key (a concurrent first write made it);
    whether this call inserted it."""
    values = {c.name: getattr(line, c.name) for c in FundingLine.__table__.columns}  # type: ignore[attr-defined]
    ins = upsert_insert(session, FundingLine)
    res = await session.exec(ins.values(**values).on_conflict_do_nothing())
    return bool(res.rowcount == 1)


def _live() -> ColumnElement[bool]:
    """A pledge that stands: "my share" (null) or an amount above 0 (for an ``opted_in`` line: opted in)."""
    return or_(col(FundingPledge.amount_fen).is_(None), col(FundingPledge.amount_fen) > 0)


async def live_pledges(session: AsyncSession, project_id: str) -> list[tuple[str, str, int | None]]:
    """(line id, household id, amount or None for "my share") of every pledge of the project that stands."""
    q = (select(FundingPledge.line_id, FundingPledge.household_id, FundingPledge.amount_fen)
         .join(FundingLine, col(FundingLine.id) == FundingPledge.line_id)
         .where(col(FundingLine.project_id) == project_id, _live())
         .order_by(col(FundingPledge.line_id), col(FundingPledge.household_id)))
    return [(line_id, hid, amount) for line_id, hid, amount in (await session.exec(q)).all()]


async def payment_sums(session: AsyncSession, project_id: str) -> dict[tuple[str, str], int]:
    """(line id, kind) -> the sum of the payments of that kind."""
    q = (select(FundingPayment.line_id, FundingPayment.kind, func.sum(FundingPayment.amount_fen))
         .where(col(FundingPayment.project_id) == project_id)
         .group_by(col(FundingPayment.line_id), col(FundingPayment.kind)))
    return {(line_id, kind): int(total or 0) for line_id, kind, total in (await session.exec(q)).all()}


async def rolls_of(session: AsyncSession, project_id: str) -> dict[str, list[tuple[str, int]]]:
    """line id -> its frozen roll: (household id, area in 0.01 m²) by household id."""
    q = (select(FundingRollEntry.line_id, FundingRollEntry.household_id, FundingRollEntry.area_centi)
         .join(FundingLine, col(FundingLine.id) == FundingRollEntry.line_id)
         .where(col(FundingLine.project_id) == project_id)
         .order_by(col(FundingRollEntry.line_id), col(FundingRollEntry.household_id)))
    out: dict[str, list[tuple[str, int]]] = {}
    for line_id, hid, area in (await session.exec(q)).all():
        out.setdefault(line_id, []).append((hid, int(area)))
    return out


async def replace_roll(session: AsyncSession, line_id: str, entries: list[tuple[str, int]]) -> None:
    """The line's frozen roll becomes ``entries`` (household id, area in 0.01 m²)."""
    await session.exec(delete(FundingRollEntry).where(col(FundingRollEntry.line_id) == line_id))
    session.add_all([FundingRollEntry(line_id=line_id, household_id=hid, area_centi=area) for hid, area in entries])
    await session.flush()


async def pledges_of(session: AsyncSession, project_id: str,
                     household_ids: list[str] | None = None) -> list[FundingPledge]:
    """The project's current pledges (of the given households only, if any are given)."""
    q = (select(FundingPledge).join(FundingLine, col(FundingLine.id) == FundingPledge.line_id)
         .where(col(FundingLine.project_id) == project_id)
         .order_by(col(FundingPledge.household_id), col(FundingPledge.line_id)))
    if household_ids is not None:
        q = q.where(col(FundingPledge.household_id).in_(household_ids))
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def pledge_for(session: AsyncSession, line_id: str, household_id: str) -> FundingPledge | None:
    q = (select(FundingPledge).where(col(FundingPledge.line_id) == line_id,
                                     col(FundingPledge.household_id) == household_id)
         .execution_options(populate_existing=True))
    return (await session.exec(q)).first()


async def payments_of(session: AsyncSession, project_id: str,
                      household_ids: list[str] | None = None) -> list[FundingPayment]:
    """The project's collections and refunds in the order they were recorded (of the given households only, if
    any are given)."""
    q = (select(FundingPayment).where(col(FundingPayment.project_id) == project_id)
         .order_by(col(FundingPayment.created_at), col(FundingPayment.id)))
    if household_ids is not None:
        q = q.where(col(FundingPayment.household_id).in_(household_ids))
    return list((await session.exec(q)).all())


async def paid_by(session: AsyncSession, line_id: str, household_id: str) -> dict[str, int]:
    """kind -> what the household paid (collection) or got back (refund) for the line."""
    q = (select(FundingPayment.kind, func.sum(FundingPayment.amount_fen))
         .where(col(FundingPayment.line_id) == line_id, col(FundingPayment.household_id) == household_id)
         .group_by(col(FundingPayment.kind)))
    return {kind: int(total or 0) for kind, total in (await session.exec(q)).all()}


async def receipt_taken(session: AsyncSession, project_id: str, kind: str, receipt_no: str) -> bool:
    q = select(FundingPayment.id).where(col(FundingPayment.project_id) == project_id,
                                        col(FundingPayment.kind) == kind, col(FundingPayment.receipt_no) == receipt_no)
    return (await session.exec(q)).first() is not None


async def has_entries(session: AsyncSession, line_id: str) -> bool:
    """Whether anyone has pledged ("my share" or above 0) or paid for the line."""
    p = select(FundingPledge.id).where(col(FundingPledge.line_id) == line_id, _live())
    if (await session.exec(p.limit(1))).first() is not None:
        return True
    q = select(FundingPayment.id).where(col(FundingPayment.line_id) == line_id)
    return (await session.exec(q.limit(1))).first() is not None
